import Histogram
import Synchronization

/// What running one benchmark on one engine produced.
enum Outcome {
    case result(BenchResult)
    case skipped(String)
}

/// Runs benchmarks on one engine in turn, keeping its store open between them as db_bench does: the fill
/// benchmarks start from an empty store, the others work on whatever the previous ones left.
final class EngineRun {
    let engine: any BenchEngine.Type
    let directory: String
    let config: BenchConfig
    let values: ValueData
    let seeds: OrderSeeds
    var store: (any EngineStore)?
    private var openDurability: DurabilitySetting?
    /// The next key number YCSB D inserts (keys 0..<num are the loaded records).
    var nextInsert: Int
    private var orderCache: [UInt64: [UInt32]] = [:]

    init(engine: any BenchEngine.Type, directory: String, config: BenchConfig, values: ValueData) {
        self.engine = engine
        self.directory = directory
        self.config = config
        self.values = values
        seeds = OrderSeeds(base: config.seed)
        nextInsert = config.num
    }

    var name: String { engine.name }

    /// Runs `benchmark`.
    func run(_ benchmark: Benchmark) throws -> Outcome {
        if benchmark == .ycsbE {
            return .skipped("N/A: YCSB E needs ordered range scans, which a hash index does not offer")
        }
        if benchmark.startsFresh && config.useExistingDB {
            return .skipped("skipped: it would destroy the existing store (--use-existing-db)")
        }
        if benchmark.readsData { try prepareReads() }
        if config.processes > 0, let outcome = try runWithReaderProcesses(benchmark) { return outcome }
        let num = config.num, reads = config.readCount
        switch benchmark {
        case .fillseq:
            try fresh(durability: config.durability)
            return .result(try measureWrites(benchmark, order: KeyOrder.sequential(count: num), count: num))
        case .fillrandom:
            try fresh(durability: config.durability)
            return .result(try measureWrites(benchmark, order: order(seeds.fill), count: num))
        case .fillsync:
            try fresh(durability: .sync)
            if config.asyncWriters > 0 { return try measureAsyncFillSync(count: max(1, num / 1000), writers: config.asyncWriters) }
            return .result(try measureWrites(benchmark, order: order(seeds.fill), count: max(1, num / 1000)))
        case .overwrite:
            return .result(try measureWrites(benchmark, order: order(seeds.overwrite), count: num))
        case .update:
            return .result(try measureWrites(benchmark, order: order(seeds.overwrite), count: num, update: true))
        case .deleterandom:
            let keys = order(seeds.delete)
            return .result(try measure(benchmark, operations: num, syncAtEnd: true) { index, session, context, recorder, ready in
                let part = share(of: num, thread: index, threads: context.threadsHint)
                try WriteLoops.delete(order: keys, start: part.start, count: part.count, session: session,
                                      context: context, recorder: &recorder, ready: ready)
            })
        case .readrandom, .readmissing:
            let missing = benchmark == .readmissing
            let keys = order(missing ? seeds.missing : seeds.reads)
            return .result(try measure(benchmark, operations: reads) { index, session, context, recorder, ready in
                let part = share(of: reads, thread: index, threads: context.threadsHint)
                try ReadLoops.get(order: keys, start: part.start, count: part.count, missing: missing,
                                  session: session, context: context, recorder: &recorder, ready: ready)
            })
        case .readhot:
            return .result(try measure(benchmark, operations: reads) { index, session, context, recorder, ready in
                let part = share(of: reads, thread: index, threads: context.threadsHint)
                try ReadLoops.hot(thread: index, count: part.count, session: session, context: context,
                                  recorder: &recorder, ready: ready)
            })
        case .readseq:
            // One full pass per thread; --num estimates the entries (for sampling and progress).
            return .result(try measure(benchmark, operations: num) { _, session, context, recorder, ready in
                try ReadLoops.scan(session: session, context: context, recorder: &recorder, ready: ready)
            })
        case .readwhilewriting:
            return .result(try measureReadWhileWriting(reads: reads))
        case .ycsbA, .ycsbB, .ycsbC, .ycsbD, .ycsbF:
            return .result(try measureYCSB(benchmark, mix: benchmark.ycsbMix!, operations: reads))
        case .open:
            return .result(try measureOpen())
        case .rebuild:
            return try measureRebuild()
        case .recover:
            return .result(try measureRecover())
        case .compact:
            return try measureCompact()
        case .readwhilecompacting:
            return try measureReadWhileCompacting(reads: reads)
        case .backup:
            return try measureBackup()
        case .fillwhilebackingup:
            try fresh(durability: config.durability)
            return try measureFillWhileBackingUp()
        case .ycsbE:
            fatalError("handled above")
        }
    }

    /// Closes the store at the end of the run.
    func finish() throws { try closeStore() }

    // MARK: Store lifecycle

    /// The open store, (re)opened with `durability` (default: `--durability`) when needed.
    @discardableResult
    func ensureOpen(durability: DurabilitySetting? = nil) throws -> any EngineStore {
        let wanted = durability ?? config.durability
        if let store, openDurability == wanted { return store }
        try closeStore()
        try FileSystem.makeDirectories(directory)
        let opened = try engine.open(directory: directory, options: config.engineOptions(durability: wanted))
        store = opened
        openDurability = wanted
        return opened
    }

    /// Replaces the store by an empty one.
    func fresh(durability: DurabilitySetting) throws {
        try closeStore()
        try FileSystem.removeTree(directory)
        nextInsert = config.num
        try ensureOpen(durability: durability)
    }

    /// Closes the store, if open.
    func closeStore() throws {
        guard let open = store else { return }
        store = nil
        openDurability = nil
        try open.close()
    }

    /// Re-reads the store's files (warm) or drops them from the page cache (`--cold`) before a read benchmark.
    func prepareReads() throws {
        let store = try ensureOpen()
        if config.cold {
            try store.sync()
            PageCache.evict(engine.dataFiles(in: directory))
        } else {
            PageCache.warm(FileSystem.regularFiles(under: directory))
        }
    }

    /// The permutation of 0..<num for `seed`, computed once.
    func order(_ seed: UInt64) -> [UInt32] {
        if let cached = orderCache[seed] { return cached }
        let made = KeyOrder.permutation(count: config.num, seed: seed)
        orderCache[seed] = made
        return made
    }

    // MARK: Threaded measurement

    typealias ThreadBody = @Sendable (
        _ index: Int, _ session: any EngineSession, _ context: WorkContext, _ recorder: inout Recorder,
        _ ready: () -> Void
    ) throws -> Void

    /// Runs `body` on `threads` threads (default `--threads`) against the open store and builds the result. With
    /// `--processes`, a write benchmark runs beside reader processes that read until it is done (`backgroundReaders`).
    func measure(_ benchmark: Benchmark, operations: Int, threads: Int? = nil, measuredThreads: Int? = nil,
                 syncAtEnd: Bool = false, prepare: (WorkContext) -> Void = { _ in },
                 _ body: @escaping ThreadBody) throws -> BenchResult {
        let store = try ensureOpen(durability: benchmark == .fillsync ? .sync : nil)
        let threadCount = threads ?? config.threads
        let progress = config.showProgress ? Progress(label: benchmark.rawValue, total: operations) : nil
        let context = WorkContext(
            store: store, keySize: config.keySize, valueSize: config.valueSize, num: config.num, values: values,
            timeAll: config.timesEveryOperation(operations), durationNanos: UInt64(config.duration * 1e9),
            progress: progress, seeds: seeds, threadsHint: measuredThreads ?? threadCount, zipfian: config.zipfian,
            dataset: config.dataset)
        prepare(context)
        let readers = try backgroundReaders(for: benchmark)
        let tallies = Mutex<[Tally]>([])
        // Before the clock starts (kvstore's statistics walk the index), and before the process figures.
        let mappingBefore = try store.mappingFigures()
        let before = ProcessSnapshot.now()
        let (start, end) = try ThreadRunner.run(count: threadCount, release: { readers?.start() }) { index, ready in
            let session = try store.makeSession()
            var recorder = Recorder(timeAll: context.timeAll, thread: index)
            try body(index, session, context, &recorder, ready)
            try session.finish()
            let tally = recorder.tally
            tallies.withLock { $0.append(tally) }
        }
        var finish = end
        if syncAtEnd {
            try store.sync()
            finish = monotonicNanos()
        }
        progress?.clear()
        readers?.stop()
        let background = try readers.map { ReaderFigures(try $0.collect()) }
        if benchmark == .ycsbD { nextInsert = context.nextInsert.load(ordering: .relaxed) }
        let tally = Tally.merged(tallies.withLock { $0 })
        var result = try makeResult(benchmark.rawValue, threads: measuredThreads ?? threadCount,
                                    seconds: seconds(from: start, to: finish), tally: tally, before: before,
                                    mappingBefore: mappingBefore)
        if let background { addBackgroundReaders(background, to: &result) }
        return result
    }

    /// fillseq, fillrandom, overwrite, fillsync: `count` puts split over the threads, then one sync (timed).
    private func measureWrites(_ benchmark: Benchmark, order keys: [UInt32], count: Int, update: Bool = false) throws -> BenchResult {
        let syncsBefore = try store?.syncCount()
        var result = try measure(benchmark, operations: count, syncAtEnd: true) { index, session, context, recorder, ready in
            let part = share(of: count, thread: index, threads: context.threadsHint)
            try WriteLoops.put(order: keys, start: part.start, count: part.count, session: session,
                               context: context, recorder: &recorder, update: update, ready: ready)
        }
        result.found = nil
        result.attempted = nil
        if benchmark == .fillsync, let before = syncsBefore, let after = try store?.syncCount(), after > before {
            result.writesPerSync = Double(result.ops) / Double(after - before)
            let note = "\(after - before) sync rounds: " + Format.fixed(result.writesPerSync!, 2) + " writes per fdatasync"
            result.note = [note, result.note].compactMap { $0 }.joined(separator: "; ")
        }
        return result
    }

    /// readrandom on `--threads` threads while one more thread overwrites random keys until they finish.
    private func measureReadWhileWriting(reads: Int) throws -> BenchResult {
        let readers = config.threads
        let keys = order(seeds.reads)
        var result = try measure(.readwhilewriting, operations: reads, threads: readers + 1, measuredThreads: readers,
                                 prepare: { $0.remainingReaders.store(readers, ordering: .relaxed) }) {
            index, session, context, recorder, ready in
            if index == readers {
                try WriteLoops.background(thread: index, session: session, context: context, recorder: &recorder,
                                          ready: ready)
            } else {
                defer { context.remainingReaders.wrappingSubtract(1, ordering: .relaxed) }
                let part = share(of: reads, thread: index, threads: readers)
                try ReadLoops.get(order: keys, start: part.start, count: part.count, missing: false,
                                  session: session, context: context, recorder: &recorder, ready: ready)
            }
        }
        if let puts = result.writerOps, let rate = result.writerOpsPerSecond {
            result.note = Self.writerNote(puts: puts, perSecond: rate)
        }
        return result
    }

    /// readwhilewriting's note on its writer: "writer: 123456 puts, 180.2k puts/s".
    static func writerNote(puts: Int, perSecond: Double) -> String {
        "writer: \(puts) puts, \(Format.short(perSecond)) puts/s"
    }

    /// A YCSB workload: `operations` operations split over the threads.
    private func measureYCSB(_ benchmark: Benchmark, mix: YCSBMix, operations: Int) throws -> BenchResult {
        let start = nextInsert
        return try measure(benchmark, operations: operations, prepare: { context in
            context.nextInsert.store(start, ordering: .relaxed)
            context.acknowledged.store(start, ordering: .relaxed)
        }) { index, session, context, recorder, ready in
            let part = share(of: operations, thread: index, threads: context.threadsHint)
            try YCSBLoop.run(mix: mix, thread: index, count: part.count, session: session, context: context,
                             recorder: &recorder, ready: ready)
        }
    }

    // MARK: Results

    /// A result with the process, disk, index and mapping figures read now. The page faults are those since `before`;
    /// the maps and unmaps those since `mappingBefore` (read on the same open store at the benchmark's start), or
    /// since the store was opened when that is nil (benchmarks that open it themselves).
    func makeResult(_ name: String, threads: Int, seconds: Double, tally: Tally, before: ProcessSnapshot,
                    mappingBefore: MappingFigures? = nil, note: String? = nil) throws -> BenchResult {
        var process = ProcessSnapshot.now()
        process.minorFaults -= before.minorFaults
        process.majorFaults -= before.majorFaults
        // After the process figures, so that the statistics' walk of the index is not among the benchmark's faults.
        let mapping = try store?.mappingFigures()?.since(mappingBefore)
        var overall: Histogram<UInt64>?
        var byOperation: [LatencySummary] = []
        for kind in OpKind.allCases {
            guard let histogram = tally.latencies[kind] else { continue }
            byOperation.append(LatencySummary(operation: kind.label, histogram: histogram))
            guard kind.countsInOverall else { continue }
            if overall == nil { overall = histogram } else { overall!.add(histogram) }
        }
        if tally.errors > 0 {
            StandardStreams.error("kvbench: \(name) on \(self.name): \(tally.errors) values of the wrong size\n")
        }
        var result = BenchResult(
            engine: self.name, name: name, threads: threads, ops: tally.ops, seconds: seconds, bytes: tally.bytes,
            found: tally.attempted > 0 || tally.found > 0 ? tally.found : nil,
            attempted: tally.attempted > 0 ? tally.attempted : nil,
            errors: tally.errors, note: note,
            latency: overall.map { LatencySummary(operation: "all", histogram: $0) },
            latencyByOperation: byOperation, process: process,
            diskBytes: FileSystem.allocatedBytes(under: directory),
            indexBytesPerKey: try store?.indexBytesPerKey(),
            writerOps: tally.backgroundOps > 0 ? tally.backgroundOps : nil,
            writerOpsPerSecond: tally.backgroundOps > 0 && seconds > 0 ? Double(tally.backgroundOps) / seconds : nil)
        result.mapping = mapping
        return result
    }
}
