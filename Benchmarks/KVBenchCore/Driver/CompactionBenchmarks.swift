import Histogram

/// The compaction benchmarks: how fast compaction rewrites live data, and what it does to reads.
extension EngineRun {
    /// The dead share above which `compact` and `readwhilecompacting` compact a segment.
    static let compactionThreshold = 0.25

    /// Compacts once; ops = live records rewritten, MB/s = live bytes rewritten per second. The
    /// note gives the disk bytes before and after.
    func measureCompact() throws -> Outcome {
        let store = try ensureOpen()
        let diskBefore = FileSystem.allocatedBytes(under: directory)
        let mappingBefore = try store.mappingFigures()
        let before = ProcessSnapshot.now()
        let t0 = monotonicNanos()
        guard let figures = try store.compact(minimumDeadRatio: Self.compactionThreshold) else {
            return .skipped("N/A: \(name) does not compact on request")
        }
        let elapsed = monotonicNanos() &- t0
        var histogram = Recorder.makeHistogram()
        histogram.record(max(elapsed, 1))
        var tally = Tally(ops: figures.records)
        tally.bytes = figures.bytesRewritten
        tally.latencies[.compaction] = histogram
        let diskAfter = FileSystem.allocatedBytes(under: directory)
        return .result(try makeResult("compact", threads: 1, seconds: Double(elapsed) / 1e9, tally: tally, before: before,
                                      mappingBefore: mappingBefore, note: "\(figures.segments) segments; disk \(Format.bytes(diskBefore)) -> \(Format.bytes(diskAfter))"))
    }

    /// readrandom on `--threads` threads while one more thread compacts over and over (with a writer's
    /// overwrites in between, so that there is always something to compact) until the readers finish.
    func measureReadWhileCompacting(reads: Int) throws -> Outcome {
        let store = try ensureOpen()
        guard try store.compact(minimumDeadRatio: 1.1) != nil else {
            return .skipped("N/A: \(name) does not compact on request")
        }
        let readers = config.threads
        let keys = order(seeds.reads)
        var result = try measure(.readwhilecompacting, operations: reads, threads: readers + 1, measuredThreads: readers,
                                 prepare: { $0.remainingReaders.store(readers, ordering: .relaxed) }) {
            index, session, context, recorder, ready in
            if index == readers {
                try Self.compactUntilReadersEnd(context: context, recorder: &recorder, ready: ready)
            } else {
                defer { context.remainingReaders.wrappingSubtract(1, ordering: .relaxed) }
                let part = share(of: reads, thread: index, threads: readers)
                try ReadLoops.get(order: keys, start: part.start, count: part.count, missing: false,
                                  session: session, context: context, recorder: &recorder, ready: ready)
            }
        }
        if let compactions = result.latencyByOperation.first(where: { $0.operation == OpKind.compaction.label }) {
            result.note = "\(compactions.count) compactions ran beside the readers"
        }
        return .result(result)
    }

    /// readwhilecompacting's compactor: compacts again and again until `remainingReaders` is 0, timing each round.
    static func compactUntilReadersEnd(context: WorkContext, recorder: inout Recorder, ready: () -> Void) throws {
        ready()
        while context.remainingReaders.load(ordering: .relaxed) > 0 {
            let t0 = monotonicNanos()
            _ = try context.store.compact(minimumDeadRatio: compactionThreshold)
            recorder.record(.compaction, nanos: max(monotonicNanos() &- t0, 1))
        }
    }
}
