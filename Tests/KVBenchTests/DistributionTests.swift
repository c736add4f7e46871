#if canImport(Glibc)
import Glibc
#endif
import KVBenchCore
import Testing

@Suite("YCSB request distributions")
struct DistributionTests {
    static func zeta(_ n: Int, _ theta: Double) -> Double {
        (1...n).reduce(0.0) { $0 + 1 / pow(Double($1), theta) }
    }

    @Test("zipfian 0.99: P(0) = 1/ζ(n), P(0)/P(1) = 2^0.99, decreasing")
    func zipfian() {
        var generator = ZipfianGenerator(min: 0, max: 999)
        var random = SplitMix64(seed: 7)
        var counts = [Int](repeating: 0, count: 1000)
        let samples = 400_000
        for _ in 0..<samples { counts[Int(generator.next(itemCount: 1000, using: &random))] += 1 }
        let p0 = Double(counts[0]) / Double(samples)
        let expected = 1 / Self.zeta(1000, 0.99)
        #expect(abs(p0 - expected) / expected < 0.05, "P(0) \(p0) vs \(expected)")
        let ratio = Double(counts[0]) / Double(counts[1])
        #expect(abs(ratio - pow(2, 0.99)) < 0.15, "P(0)/P(1) \(ratio)")
        #expect(counts[1] > counts[5] && counts[5] > counts[50] && counts[50] > counts[900])
    }

    @Test("scrambled zipfian: in range, skewed, hot keys spread over the key space")
    func scrambled() {
        var generator = ScrambledZipfianGenerator(min: 0, max: 9_999)
        var random = SplitMix64(seed: 11)
        var counts = [Int](repeating: 0, count: 10_000)
        let samples = 200_000
        for _ in 0..<samples { counts[Int(generator.next(using: &random))] += 1 }
        let sorted = counts.enumerated().sorted { $0.element > $1.element }
        // YCSB's hottest item has probability 1/ζ(10¹⁰, 0.99) = 1/26.47 ≈ 3.8%.
        let top = Double(sorted[0].element) / Double(samples)
        #expect(top > 0.03 && top < 0.06, "hottest key \(top)")
        // Far from uniform (1/10,000 each), and the hot keys are not the lowest key numbers.
        #expect(sorted.prefix(10).contains { $0.offset > 100 })
        // The hottest 1% of the keys get about 20% of the requests (1% if uniform).
        let hottest = sorted.prefix(100).reduce(0) { $0 + $1.element }
        #expect(Double(hottest) / Double(samples) > 0.1)
        #expect(fnvHash64(0) == 6_284_781_860_667_377_211)
        #expect(fnvHash64(12345) == 1_792_800_413_050_876_852)
    }

    @Test("latest: the newest key is the most popular, and the hot spot follows inserts")
    func latest() {
        var generator = LatestGenerator(initialCount: 1000)
        var random = SplitMix64(seed: 3)
        var counts = [Int: Int]()
        for _ in 0..<100_000 { counts[Int(generator.next(count: 1000, using: &random)), default: 0] += 1 }
        #expect(counts.keys.allSatisfy { $0 >= 0 && $0 < 1000 })
        let hottest = counts.max { $0.value < $1.value }!.key
        #expect(hottest == 999)
        #expect(counts[998, default: 0] > counts[900, default: 0])
        let p = Double(counts[999]!) / 100_000
        let expected = 1 / Self.zeta(1000, 0.99)
        #expect(abs(p - expected) / expected < 0.07, "P(newest) \(p) vs \(expected)")

        counts = [:]
        for _ in 0..<50_000 { counts[Int(generator.next(count: 2000, using: &random)), default: 0] += 1 }
        #expect(counts.max { $0.value < $1.value }!.key == 1999)
    }
}
