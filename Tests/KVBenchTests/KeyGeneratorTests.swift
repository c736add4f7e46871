import KVBenchCore
import Testing

@Suite("Keys and key orders")
struct KeyGeneratorTests {
    @Test("keys are the zero-padded decimal key number")
    func keyFormat() {
        let keys = KeyBuffer(size: 16)
        defer { keys.deallocate() }
        keys.set(0)
        #expect(keys.string == "0000000000000000")
        keys.set(1_234_567)
        #expect(keys.string == "0000000001234567")
        keys.set(9_999_999_999_999_999)
        #expect(keys.string == "9999999999999999")
        keys.set(42)   // shorter after longer: no leftover digits
        #expect(keys.string == "0000000000000042")
    }

    @Test("odd and larger key sizes pad on the left")
    func otherSizes() {
        let odd = KeyBuffer(size: 7)
        defer { odd.deallocate() }
        odd.set(12345)
        #expect(odd.string == "0012345")
        let wide = KeyBuffer(size: 24)
        defer { wide.deallocate() }
        wide.set(987)
        #expect(wide.string == String(repeating: "0", count: 21) + "987")
    }

    @Test("missing keys replace the last digit by a dot")
    func missingKeys() {
        let keys = KeyBuffer(size: 16)
        defer { keys.deallocate() }
        keys.setMissing(1234)
        #expect(keys.string == "000000000000123.")
    }

    @Test("fillseq's order is 0..<n")
    func sequentialOrder() {
        #expect(KeyOrder.sequential(count: 5) == [0, 1, 2, 3, 4])
    }

    @Test("random orders are seeded permutations")
    func permutations() {
        let a = KeyOrder.permutation(count: 10_000, seed: 1)
        #expect(a.sorted() == KeyOrder.sequential(count: 10_000))
        #expect(a == KeyOrder.permutation(count: 10_000, seed: 1))
        #expect(a != KeyOrder.permutation(count: 10_000, seed: 2))
        #expect(a != KeyOrder.sequential(count: 10_000))
        // Not merely rotated or locally shuffled: the first keys are spread over the whole space.
        #expect(a.prefix(100).contains { $0 > 5_000 })
        #expect(a.prefix(100).contains { $0 < 5_000 })
    }

    @Test("order seeds follow the peer baseline's numbering")
    func seeds() {
        let seeds = OrderSeeds(base: 1)
        #expect([seeds.fill, seeds.reads, seeds.missing, seeds.overwrite] == [1, 2, 3, 4])
        #expect(seeds.stream(0) != seeds.stream(1))
    }
}
