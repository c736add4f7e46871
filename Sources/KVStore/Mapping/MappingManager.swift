#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Decides, in the background, which sealed segments are mapped for reads, within
/// ``Store/Configuration/mappingBudget`` bytes (README, "Which bytes are mapped").
///
/// Every ``tickInterval`` it adds up each segment's ``ReadCounter``, asks the ``MappingPolicy``
/// what to map and unmap, does it, and publishes the new ``MappingTable`` into the readers' views.
/// Nothing of this runs on a get: a get only counts, and reads in place when its view lists a
/// mapping.
///
/// The budget holds for what is really mapped: a mapping let go of (a hotter segment needed its
/// room, or compaction retired the segment) keeps counting until the last view that lists it is
/// gone, and only then is it unmapped, here, so that no reader pays for the `munmap`.
final class MappingManager: Sendable {
    /// Milliseconds between decisions: a segment read at a steady rate is mapped within a few.
    static let tickInterval = 250

    let budget: Int
    private let views: ViewBox
    /// Which segments of a view may be mapped: sealed ones, never truncated or written again.
    private let isMappable: @Sendable (SegmentFile, ReadView) -> Bool
    private let counters = Counters()
    /// The thread that decides (``BackgroundThread``: one for the life of the store).
    private let thread = Mutex<BackgroundThread?>(nil)
    private let stopping = Atomic(false)

    /// What is counted as mappings come and go (shared with every ``SegmentMapping``'s deinit).
    final class Counters: Sendable {
        let mappedBytes = Atomic<Int>(0)
        let mappedSegments = Atomic<Int>(0)
        let maps = Atomic<Int>(0)
        let unmaps = Atomic<Int>(0)

        func unmapped(_ bytes: Int) {
            mappedBytes.subtract(bytes, ordering: .relaxed)
            mappedSegments.subtract(1, ordering: .relaxed)
            unmaps.add(1, ordering: .relaxed)
        }
    }

    /// A segment's measured heat.
    private struct Tracked {
        var lastTotal: UInt64 = 0
        var heat: Double = 0
        var mappedAtTick = 0
    }

    private struct State {
        var mapped: [UInt32: SegmentMapping] = [:]
        /// Let go of, waiting for the last reader to let go too.
        var releasing: [SegmentMapping] = []
        var tracked: [UInt32: Tracked] = [:]
        var active: ActiveRegion?
        var tick = 0
        var closed = false
    }

    private let state = Mutex(State())

    /// Maps every sealed segment at once, read or not (a test seam: the suites that check reads
    /// of damaged, torn and crashed stores run again with everything mapped).
    private let mapsEverything: Bool

    /// Whether decisions run on their own thread; tests that decide step by step
    /// (``decideNow()``) turn it off, so that no decision between their steps halves the heat.
    private let decidesInBackground: Bool

    init(budget: Int, views: ViewBox, mapsEverything: Bool = false, decidesInBackground: Bool = true,
         isMappable: @escaping @Sendable (SegmentFile, ReadView) -> Bool) {
        self.budget = max(0, budget)
        self.views = views
        self.mapsEverything = mapsEverything
        self.decidesInBackground = decidesInBackground
        self.isMappable = isMappable
    }

    /// Starts deciding (nothing to do with a budget of 0).
    func start() {
        guard budget > 0 else { return }
        if mapsEverything { tick() }
        guard decidesInBackground else { return }
        let interval = mapsEverything ? 10 : Self.tickInterval
        // Sleeps in short steps, so that close() waits at most one step for it; holds the manager
        // only while it decides, so a store dropped without close() lets the thread end too.
        let started = BackgroundThread.start { [weak self] in
            var slept = 0
            while true {
                usleep(10_000)
                slept += 10
                guard let manager = self, !manager.stopping.load(ordering: .relaxed) else { return }
                if slept >= interval {
                    manager.tick()
                    slept = 0
                }
            }
        }
        thread.withLock { $0 = started }
    }

    /// A store dropped without close(): its thread ends at its next wake-up (it finds no manager)
    /// and nobody joins it. This may run on that very thread, which drops the last reference.
    deinit { thread.withLock { $0.take() }?.detach() }

    /// Stops deciding and lets go of every mapping; each is unmapped when the last view holding
    /// it is gone. Waits for a decision under way.
    func close() {
        stopping.store(true, ordering: .relaxed)
        if let running = thread.withLock({ $0.take() }) { running.join() }
        state.withLock { s in
            s.closed = true
            s.mapped = [:]
            s.releasing = []
            s.active = nil
        }
    }

    // MARK: - Figures

    struct Figures {
        var mappedBytes: Int
        var mappedSegments: Int
        var maps: Int
        var unmaps: Int
    }

    var figures: Figures {
        Figures(mappedBytes: counters.mappedBytes.load(ordering: .relaxed), mappedSegments: counters.mappedSegments.load(ordering: .relaxed),
                maps: counters.maps.load(ordering: .relaxed), unmaps: counters.unmaps.load(ordering: .relaxed))
    }

    // MARK: - Changes from the writer and compaction

    /// The writer's active segment, read in place by this process's gets; `nil` to stop.
    func setActive(_ region: ActiveRegion?) {
        guard budget > 0 else { return }
        state.withLock { s in
            guard !s.closed else { return }
            s.active = region
            publish(s)
        }
    }

    /// Segments compaction retired: unmapped as soon as no reader holds them.
    func retire(_ ids: Set<UInt32>) {
        guard budget > 0 else { return }
        state.withLock { s in
            var changed = false
            for id in ids {
                s.tracked[id] = nil
                if let mapping = s.mapped.removeValue(forKey: id) {
                    s.releasing.append(mapping)
                    changed = true
                }
            }
            if changed { publish(s) }
        }
    }

    /// Runs one decision now (tests; the timer runs them otherwise).
    func decideNow() { tick() }

    // MARK: - Deciding

    private func tick() {
        guard let view = views.newest else { return }
        state.withLock { s in
            guard !s.closed else { return }
            s.tick += 1
            release(&s)
            var candidates: [MappingPolicy.Candidate] = []
            var present = Set<UInt32>()
            for file in view.segments.all where isMappable(file, view) {
                present.insert(file.id)
                let total = file.reads.total
                var tracked = s.tracked[file.id] ?? Tracked()
                tracked.heat = tracked.heat / 2 + Double(total &- tracked.lastTotal)
                tracked.lastTotal = total
                s.tracked[file.id] = tracked
                if let mapping = s.mapped[file.id] {
                    candidates.append(.init(id: file.id, bytes: mapping.mappedBytes, heat: tracked.heat, isMapped: true,
                                            age: s.tick - tracked.mappedAtTick))
                } else if tracked.heat >= minimumHeat, let size = try? file.size() {
                    candidates.append(.init(id: file.id, bytes: (size + 4095) & ~4095, heat: tracked.heat, isMapped: false))
                }
            }
            var changed = false
            // Gone from the table (compaction) or no longer sealed: let go.
            for id in s.mapped.keys where !present.contains(id) {
                s.releasing.append(s.mapped.removeValue(forKey: id)!)
                changed = true
            }
            for id in s.tracked.keys where !present.contains(id) { s.tracked[id] = nil }
            let mappedBytes = s.mapped.values.reduce(0) { $0 + $1.mappedBytes }
            let releasingBytes = s.releasing.reduce(0) { $0 + $1.mappedBytes }
            var policy = MappingPolicy(budget: budget)
            policy.minimumHeatToMap = minimumHeat
            let decision = policy.decide(candidates, mappedBytes: mappedBytes, releasingBytes: releasingBytes)
            for id in decision.unmap {
                guard let mapping = s.mapped.removeValue(forKey: id) else { continue }
                s.releasing.append(mapping)
                changed = true
            }
            for id in decision.map {
                guard let file = view.segments.file(id), let mapping = map(file) else { continue }
                s.mapped[id] = mapping
                s.tracked[id]?.mappedAtTick = s.tick
                changed = true
            }
            if changed { publish(s) }
            assertWithinBudget()
        }
    }

    private var minimumHeat: Double { mapsEverything ? 0 : MappingPolicy.minimumHeat }

    /// Maps `file` if it still fits: the budget is checked against what is mapped at this moment.
    private func map(_ file: SegmentFile) -> SegmentMapping? {
        guard let size = try? file.size(), counters.mappedBytes.load(ordering: .relaxed) + ((size + 4095) & ~4095) <= budget else {
            return nil
        }
        let counters = counters
        // A segment that cannot be mapped (no address space, a file gone meanwhile) stays with pread.
        guard let mapping = try? SegmentMapping.map(file, onUnmap: { counters.unmapped($0) }) else { return nil }
        counters.mappedBytes.add(mapping.mappedBytes, ordering: .relaxed)
        counters.mappedSegments.add(1, ordering: .relaxed)
        counters.maps.add(1, ordering: .relaxed)
        return mapping
    }

    /// Unmaps the mappings let go of that no reader holds any more (each view that listed one has
    /// been replaced and let go).
    private func release(_ s: inout State) {
        var i = 0
        while i < s.releasing.count {
            if isKnownUniquelyReferenced(&s.releasing[i]) { s.releasing.remove(at: i) } else { i += 1 }
        }
    }

    private func publish(_ s: State) {
        views.publish(mappings: MappingTable(mappings: Array(s.mapped.values), active: s.active))
    }

    /// Invariant: what is mapped never exceeds the budget.
    private func assertWithinBudget() {
        assert(counters.mappedBytes.load(ordering: .relaxed) <= budget, "mapped bytes exceed the mapping budget")
    }

    // MARK: - Advice

    /// Prefaults a freshly mapped sealed segment, then advises it for random access (figures:
    /// Benchmarks/Scripts/mapping_advice.md). Prefaulting here, on the manager's thread, keeps
    /// first-touch faults off the gets (~53 µs per MiB already cached). It comes first because with
    /// `MADV_RANDOM` set, the pages of a segment that is not cached would be read one 4 KiB page
    /// at a time (0.8–7 s for 64 MiB here, against 36–54 ms with read-ahead). `MADV_RANDOM` then
    /// keeps a later miss (a page evicted meanwhile) to the one page a get needs; fault-around is
    /// unchanged, and for cached pages no advice measured any different.
    static func adviseAndPrefault(_ base: UnsafeRawPointer, length: Int) {
        Sys.advise(base, length: length, .populateRead)
        Sys.advise(base, length: length, .random)
    }
}
