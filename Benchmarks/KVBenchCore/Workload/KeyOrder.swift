/// The order in which a benchmark visits key numbers: precomputed before the clock starts, so the hot loop only
/// reads the next element.
public enum KeyOrder {
    /// Key numbers 0, 1, …, count - 1 (fillseq).
    public static func sequential(count: Int) -> [UInt32] {
        precondition(count <= Int(UInt32.max), "at most 2³² keys")
        return (0..<count).map { UInt32(truncatingIfNeeded: $0) }
    }

    /// A Fisher–Yates permutation of 0..<count driven by splitmix64(`seed`): every key exactly once, in an order
    /// that is the same for every engine.
    public static func permutation(count: Int, seed: UInt64) -> [UInt32] {
        var keys = sequential(count: count)
        var random = SplitMix64(seed: seed)
        var i = count - 1
        while i > 0 {
            let j = Int(random.next(below: UInt64(i + 1)))
            keys.swapAt(i, j)
            i -= 1
        }
        return keys
    }
}

/// The seeds of the key orders, derived from `--seed` as the peer baseline numbers them (fill 1, reads 2, missing 3,
/// overwrite 4 with the default seed 1).
public struct OrderSeeds: Sendable {
    /// The `--seed` value.
    public let base: UInt64
    /// Seed of fillrandom's and fillsync's order (and the recover child's).
    public var fill: UInt64 { base }
    /// Seed of readrandom's order.
    public var reads: UInt64 { base &+ 1 }
    /// Seed of readmissing's order.
    public var missing: UInt64 { base &+ 2 }
    /// Seed of overwrite's order.
    public var overwrite: UInt64 { base &+ 3 }
    /// Seed of deleterandom's order.
    public var delete: UInt64 { base &+ 4 }
    /// Seed of the random streams (readhot, YCSB, the readwhilewriting writer) of thread `thread`.
    public func stream(_ thread: Int) -> UInt64 { base &* 0x9E37_79B9_7F4A_7C15 &+ 100 &+ UInt64(thread) }

    /// Seeds derived from `base`.
    public init(base: UInt64) { self.base = base }
}
