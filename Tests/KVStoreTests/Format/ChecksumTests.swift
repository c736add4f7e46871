@testable import KVStore
import Testing

@Suite("CRC-32C")
struct ChecksumTests {
    /// Bit by bit, straight from the definition: the reference the fast paths must match.
    private static func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func checkValueOfTheStandardTestString() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    /// Lengths around every block boundary of the three-stream path (768 bytes and up) and odd
    /// offsets, so unaligned heads, joins and tails are all exercised.
    @Test(arguments: [0, 1, 7, 8, 9, 255, 767, 768, 769, 1535, 1536, 3071, 3072, 3080, 12_288, 49_151, 49_152, 49_160, 262_144, 300_001])
    func fastPathMatchesTheDefinition(length: Int) {
        var rng = SplitMix64(seed: UInt64(length) &+ 1)
        let bytes = (0..<(length + 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for offset in 0..<3 {
            let slice = bytes[offset ..< offset + length]
            let fast = slice.withUnsafeBytes { CRC32C.checksum($0) }
            #expect(fast == Self.reference(slice), "length \(length), offset \(offset)")
        }
    }
}
