@testable import KVStore
import Testing

/// The decision alone (``MappingPolicy``): which segments to map and unmap from their heat.
@Suite("Mapping policy")
struct MappingPolicyTests {
    typealias Candidate = MappingPolicy.Candidate
    static let mib = 1 << 20

    private func unmapped(_ id: UInt32, heat: Double, bytes: Int = 8 << 20) -> Candidate {
        Candidate(id: id, bytes: bytes, heat: heat, isMapped: false)
    }
    private func mapped(_ id: UInt32, heat: Double, bytes: Int = 8 << 20, age: Int = 100) -> Candidate {
        Candidate(id: id, bytes: bytes, heat: heat, isMapped: true, age: age)
    }

    @Test func hottestSegmentsPerByteTakeTheFreeBudgetFirst() {
        let policy = MappingPolicy(budget: 16 * Self.mib)
        let decision = policy.decide([unmapped(1, heat: 100), unmapped(2, heat: 900), unmapped(3, heat: 500)], mappedBytes: 0)
        #expect(decision.map == [2, 3])
        #expect(decision.unmap.isEmpty)
    }

    @Test func aSmallSegmentWinsOverALargeOneWithTheSameReads() {
        let policy = MappingPolicy(budget: 8 * Self.mib)
        let decision = policy.decide([unmapped(1, heat: 1000, bytes: 8 << 20), unmapped(2, heat: 1000, bytes: 1 << 20)], mappedBytes: 0)
        #expect(decision.map == [2])
    }

    @Test func segmentsReadRarelyAreNotMapped() {
        let policy = MappingPolicy(budget: 1 << 30)
        let decision = policy.decide([unmapped(1, heat: MappingPolicy.minimumHeat - 1), unmapped(2, heat: 0)], mappedBytes: 0)
        #expect(decision == MappingPolicy.Decision())
    }

    @Test func aSegmentLargerThanTheBudgetIsNeverMapped() {
        let policy = MappingPolicy(budget: 4 * Self.mib)
        let decision = policy.decide([unmapped(1, heat: 1e9, bytes: 8 << 20)], mappedBytes: 0)
        #expect(decision == MappingPolicy.Decision())
    }

    @Test func aFullBudgetMakesRoomOnlyForASegmentMoreThanTwiceAsHot() {
        let policy = MappingPolicy(budget: 16 * Self.mib)
        let full = [mapped(1, heat: 100), mapped(2, heat: 400)]
        // Only 1.5 × hotter than the coldest mapped one: nothing moves.
        #expect(policy.decide(full + [unmapped(3, heat: 150)], mappedBytes: 16 * Self.mib) == MappingPolicy.Decision())
        // 3 × hotter: the coldest gives up its room; the newcomer is mapped once it is free.
        let decision = policy.decide(full + [unmapped(3, heat: 300)], mappedBytes: 16 * Self.mib)
        #expect(decision.unmap == [1])
        #expect(decision.map.isEmpty)
        // Next tick: the room is free, and the newcomer takes it.
        let next = policy.decide([mapped(2, heat: 400), unmapped(3, heat: 300)], mappedBytes: 8 * Self.mib)
        #expect(next.map == [3])
    }

    @Test func aSegmentMappedMomentsAgoIsNotPushedOut() {
        let policy = MappingPolicy(budget: 8 * Self.mib)
        let decision = policy.decide([mapped(1, heat: 1, age: MappingPolicy.minimumAgeTicks - 1), unmapped(2, heat: 1e6)],
                                     mappedBytes: 8 * Self.mib)
        #expect(decision == MappingPolicy.Decision())
    }

    @Test func aColdMappedSegmentStaysMappedWhileNothingNeedsItsRoom() {
        let policy = MappingPolicy(budget: 64 * Self.mib)
        #expect(policy.decide([mapped(1, heat: 0), unmapped(2, heat: 0)], mappedBytes: 8 * Self.mib) == MappingPolicy.Decision())
    }

    @Test func roomOnItsWayIsWaitedForNotTakenFromOthers() {
        // 8 MiB were let go of but a reader still holds them: the waiting segment does not push
        // out the other mapped one meanwhile, and is not mapped past the budget either.
        let policy = MappingPolicy(budget: 16 * Self.mib)
        let decision = policy.decide([mapped(1, heat: 10), unmapped(2, heat: 1e6)], mappedBytes: 8 * Self.mib,
                                     releasingBytes: 8 * Self.mib)
        #expect(decision == MappingPolicy.Decision())
    }

    @Test func heatWobblingAroundAMappedSegmentDoesNotFlapIt() {
        // Two segments of equal reads, one slot of budget, heat wobbling by ±20% each tick: the
        // mapped one keeps its place every tick.
        let policy = MappingPolicy(budget: 8 * Self.mib)
        var unmaps = 0
        for tick in 0..<100 {
            let wobble = tick % 2 == 0 ? 1.2 : 0.8
            let decision = policy.decide([mapped(1, heat: 1000 * wobble), unmapped(2, heat: 1000 / wobble)], mappedBytes: 8 * Self.mib)
            unmaps += decision.unmap.count
        }
        #expect(unmaps == 0)
    }

    @Test func decisionsNeverPlanPastTheBudget() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            let budget = Int(rng.next() % 64 + 1) * Self.mib
            var candidates: [Candidate] = []
            var mappedBytes = 0
            for id in 0..<UInt32(rng.next() % 12) {
                let bytes = Int(rng.next() % 16 + 1) * Self.mib
                let heat = Double(rng.next() % 2_000)
                if rng.next() % 2 == 0, mappedBytes + bytes <= budget {
                    candidates.append(mapped(id, heat: heat, bytes: bytes, age: Int(rng.next() % 8)))
                    mappedBytes += bytes
                } else {
                    candidates.append(unmapped(id, heat: heat, bytes: bytes))
                }
            }
            let decision = MappingPolicy(budget: budget).decide(candidates, mappedBytes: mappedBytes)
            let added = decision.map.reduce(0) { sum, id in sum + candidates.first { $0.id == id }!.bytes }
            // Mapped now only into room that is free now (what is unmapped is freed later).
            #expect(mappedBytes + added <= budget)
            #expect(Set(decision.map).isDisjoint(with: Set(decision.unmap)))
            for id in decision.unmap { #expect(candidates.first { $0.id == id }!.isMapped) }
            for id in decision.map { #expect(!candidates.first { $0.id == id }!.isMapped) }
        }
    }
}
