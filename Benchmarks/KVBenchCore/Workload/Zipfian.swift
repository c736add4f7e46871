#if canImport(Glibc)
import Glibc
#endif

/// YCSB's `ZipfianGenerator` (Gray et al., "Quickly generating billion-record synthetic databases", SIGMOD 1994):
/// item 0 is the most popular, popularity of item i ∝ 1/(i+1)^θ, θ = 0.99 by default.
///
/// As in YCSB, the item count may grow between calls (for the "latest" distribution); ζ(n) is then extended
/// incrementally. Unlike YCSB, η is recomputed from the current item count rather than the initial one.
public struct ZipfianGenerator: Sendable {
    /// YCSB's `ZIPFIAN_CONSTANT`.
    public static let defaultTheta = 0.99

    private let base: UInt64
    private let theta: Double
    private let alpha: Double
    private let zeta2theta: Double
    private let halfPowTheta: Double
    private var zetan: Double
    private var eta: Double
    private var countForZeta: UInt64

    /// Items `min...max` (inclusive), computing ζ(n, θ) (O(n), done before timing starts).
    public init(min: UInt64, max: UInt64, theta: Double = ZipfianGenerator.defaultTheta) {
        let items = max - min + 1
        self.init(min: min, max: max, theta: theta,
                  zetan: ZipfianGenerator.zeta(from: 0, to: items, theta: theta, initial: 0))
    }

    /// Items `min...max` with a precomputed ζ(n, θ).
    public init(min: UInt64, max: UInt64, theta: Double, zetan: Double) {
        let items = max - min + 1
        base = min
        self.theta = theta
        alpha = 1 / (1 - theta)
        zeta2theta = ZipfianGenerator.zeta(from: 0, to: 2, theta: theta, initial: 0)
        halfPowTheta = pow(0.5, theta)
        self.zetan = zetan
        countForZeta = items
        eta = (1 - pow(2 / Double(items), 1 - theta)) / (1 - zeta2theta / zetan)
    }

    /// The next item in `base ..< base + itemCount`; `itemCount` may exceed the count given at init.
    @inline(__always)
    public mutating func next(itemCount: UInt64, using random: inout SplitMix64) -> UInt64 {
        if itemCount > countForZeta { grow(to: itemCount) }
        let u = random.nextDouble()
        let uz = u * zetan
        if uz < 1 { return base }
        if uz < 1 + halfPowTheta { return base + 1 }
        let value = UInt64(Double(itemCount) * pow(eta * u - eta + 1, alpha))
        return base + Swift.min(value, itemCount - 1)
    }

    private mutating func grow(to itemCount: UInt64) {
        zetan = ZipfianGenerator.zeta(from: countForZeta, to: itemCount, theta: theta, initial: zetan)
        countForZeta = itemCount
        eta = (1 - pow(2 / Double(itemCount), 1 - theta)) / (1 - zeta2theta / zetan)
    }

    /// ζ(n, θ) = Σ_{i=1}^{n} 1/i^θ, continued from the sum `initial` over the first `from` terms.
    static func zeta(from start: UInt64, to n: UInt64, theta: Double, initial: Double) -> Double {
        var sum = initial
        var i = start
        while i < n {
            sum += 1 / pow(Double(i + 1), theta)
            i += 1
        }
        return sum
    }
}

/// YCSB's `ScrambledZipfianGenerator`, the distribution its workloads call "zipfian": a Zipfian choice among 10¹⁰
/// items (θ = 0.99, ζ precomputed by YCSB), hashed with FNV-1a 64 and reduced modulo the item count, so the popular
/// items are scattered over the key space instead of being the lowest key numbers.
public struct ScrambledZipfianGenerator: Sendable {
    /// YCSB's `ITEM_COUNT` and `ZETAN` for θ = 0.99.
    static let itemCount: UInt64 = 10_000_000_000
    static let zetan = 26.46902820178302

    private var zipfian: ZipfianGenerator
    private let min: UInt64
    private let count: UInt64

    /// Items `min...max` (inclusive).
    public init(min: UInt64, max: UInt64) {
        self.min = min
        count = max - min + 1
        zipfian = ZipfianGenerator(min: 0, max: Self.itemCount - 1, theta: ZipfianGenerator.defaultTheta,
                                   zetan: Self.zetan)
    }

    /// The next item.
    @inline(__always)
    public mutating func next(using random: inout SplitMix64) -> UInt64 {
        let value = zipfian.next(itemCount: Self.itemCount, using: &random)
        return min + fnvHash64(value) % count
    }
}

/// `--zipfian`: where the popular items of the YCSB workloads' zipfian distribution lie among the key numbers.
public enum ZipfianOrder: String, Sendable, Equatable, CaseIterable {
    /// YCSB's `ScrambledZipfianGenerator` (what its "zipfian" is): the popular items hashed all over the key space.
    case scrambled
    /// The plain `ZipfianGenerator` over the item numbers: key 0 is the most popular, then key 1, and so on. The
    /// hottest keys are the ones a sequential load (fillseq, YCSB's load phase) wrote first: in a log-structured
    /// store they sit together in the first segments.
    case ordered
}

/// The zipfian key choice of `--zipfian` over key numbers `0 ..< count`.
public struct ZipfianKeys: Sendable {
    // One of the two is set; mutated in place through `!`, so a choice copies no generator.
    private var scrambled: ScrambledZipfianGenerator?
    private var ordered: ZipfianGenerator?
    private let count: UInt64

    /// Keys `0 ..< count` (`count` ≥ 1). `ordered` computes ζ(count) first: O(count), so before timing starts.
    public init(_ order: ZipfianOrder, count: UInt64) {
        self.count = Swift.max(count, 1)
        switch order {
        case .scrambled: scrambled = ScrambledZipfianGenerator(min: 0, max: self.count - 1)
        case .ordered: ordered = ZipfianGenerator(min: 0, max: self.count - 1)
        }
    }

    /// The next key number.
    @inline(__always)
    public mutating func next(using random: inout SplitMix64) -> UInt64 {
        if ordered != nil { return ordered!.next(itemCount: count, using: &random) }
        return scrambled!.next(using: &random)
    }
}

/// YCSB's `SkewedLatestGenerator` ("latest"): the most recently inserted item is the most popular, then the one
/// before it, following a Zipfian over the distance from the newest item.
public struct LatestGenerator: Sendable {
    private var zipfian: ZipfianGenerator

    /// A generator for a key space that starts with `initialCount` items.
    public init(initialCount: UInt64) {
        zipfian = ZipfianGenerator(min: 0, max: Swift.max(initialCount, 2) - 1)
    }

    /// An item in `0 ..< count`, where `count` items have been inserted so far: `count - 1 - zipfian(count)`.
    @inline(__always)
    public mutating func next(count: UInt64, using random: inout SplitMix64) -> UInt64 {
        let distance = zipfian.next(itemCount: Swift.max(count, 1), using: &random)
        return distance < count ? count - 1 - distance : 0
    }
}

/// YCSB's `Utils.fnvhash64`: FNV-1a over the 8 little-endian bytes of `value`, made non-negative as Java's
/// `Math.abs` does.
@inline(__always)
public func fnvHash64(_ value: UInt64) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    var v = value
    for _ in 0..<8 {
        hash ^= v & 0xff
        hash = hash &* 1_099_511_628_211
        v >>= 8
    }
    let signed = Int64(bitPattern: hash)
    return signed == .min ? UInt64(bitPattern: signed) : UInt64(signed.magnitude)
}
