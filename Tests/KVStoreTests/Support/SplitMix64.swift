import Foundation

/// A small, fast, seedable random number generator (SplitMix64): the same seed gives the same
/// sequence on every platform, so a failing randomized test can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fills `count` bytes with random data, eight at a time.
    mutating func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var i = 0
            while i + 8 <= count {
                let word = next().littleEndian
                withUnsafeBytes(of: word) { buffer.baseAddress!.advanced(by: i).update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: 8) }
                i += 8
            }
            if i < count {
                let word = next().littleEndian
                withUnsafeBytes(of: word) { buffer.baseAddress!.advanced(by: i).update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: count - i) }
            }
            initialized = count
        }
    }

    /// A Bernoulli draw: true with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
}

/// The seed for a randomized test: `KVSTORE_TEST_SEED` from the environment when set (to replay a
/// failure), otherwise a fresh random one. Failure messages print it.
func testSeed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["KVSTORE_TEST_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}

/// 64-bit FNV-1a: a fingerprint of a value, to compare what a store returns with what was written.
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBufferPointer { buffer in
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in buffer { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
