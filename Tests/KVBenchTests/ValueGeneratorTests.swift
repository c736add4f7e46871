import KVBenchCore
import Testing

@Suite("Values")
struct ValueGeneratorTests {
    @Test("the first byte is db_bench's: Park-Miller(301) → 5058907 % 95 = 62 → '^'")
    func matchesDBBench() {
        let data = ValueData(valueSize: 100, compressionRatio: 0.5)
        #expect(data.bytes.first == UInt8(ascii: "^"))
        #expect(data.count >= 1 << 20)
        #expect(data.bytes.allSatisfy { $0 >= 32 && $0 < 127 })
    }

    @Test("each 100-byte piece is 50 random bytes repeated twice")
    func pieceStructure() {
        let data = ValueData(valueSize: 100, compressionRatio: 0.5)
        let bytes = Array(data.bytes.prefix(1000))
        for piece in stride(from: 0, to: 1000, by: 100) {
            #expect(Array(bytes[piece..<piece + 50]) == Array(bytes[piece + 50..<piece + 100]))
        }
    }

    @Test("successive values are successive slices, wrapping at the end")
    func cursor() {
        let data = ValueData(valueSize: 100, compressionRatio: 0.5)
        var cursor = ValueCursor(data: data, size: 100)
        let first = cursor.next()
        let second = cursor.next()
        #expect(second.baseAddress! - first.baseAddress! == 100)
        for _ in 0..<(data.count / 100) { _ = cursor.next() }
        #expect(cursor.next().count == 100)
    }

    @Test("values compress to about --compression-ratio", arguments: [100, 4096])
    func compressibility(valueSize: Int) {
        let data = ValueData(valueSize: valueSize, compressionRatio: 0.5)
        var cursor = ValueCursor(data: data, size: valueSize)
        var total = 0.0
        let samples = 200
        for _ in 0..<samples { total += LZEstimate.ratio(Array(cursor.next())) }
        let ratio = total / Double(samples)
        #expect(ratio > 0.45 && ratio < 0.65, "LZ estimate \(ratio)")

        let random = ValueData(valueSize: valueSize, compressionRatio: 1.0)
        var randomCursor = ValueCursor(data: random, size: valueSize)
        #expect(LZEstimate.ratio(Array(randomCursor.next())) > 0.9)
    }
}

/// A tiny greedy LZ77 cost model (4-byte minimum match, 1 byte per literal, 3 per match): close enough to LZ4 to
/// check that values are about half redundant, without linking a compressor into the tests.
enum LZEstimate {
    static func ratio(_ bytes: [UInt8]) -> Double {
        var last: [UInt32: Int] = [:]
        var i = 0, cost = 0
        func gram(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        while i < bytes.count {
            if i + 4 <= bytes.count, let j = last[gram(i)] {
                var length = 0
                while i + length < bytes.count && bytes[j + length] == bytes[i + length] { length += 1 }
                if length >= 4 {
                    for k in i..<min(i + length, bytes.count - 3) { last[gram(k)] = k }
                    cost += 3
                    i += length
                    continue
                }
            }
            if i + 4 <= bytes.count { last[gram(i)] = i }
            cost += 1
            i += 1
        }
        return Double(cost) / Double(bytes.count)
    }
}
