import Synchronization

/// The benchmarks of `--processes N`: N reader processes beside this one, which keeps the store open as the writer
/// (see `ProcessRole` for what each benchmark does with them).
extension EngineRun {
    /// Runs `benchmark` with reader processes when its role is to be measured in them (or not to run); nil when it
    /// runs here as usual (write benchmarks start their background readers in `measure`).
    func runWithReaderProcesses(_ benchmark: Benchmark) throws -> Outcome? {
        switch benchmark.processRole {
        case .readers(let workload):
            // readseq: one full pass per thread, --num estimates the entries (for sampling), as in this process.
            let operations = workload == .readseq ? config.num : config.readCount
            return .result(try measureInReaderProcesses(benchmark, workload: workload, operations: operations))
        case .readersBesideWriter:
            return .result(try measureReadersBeside(benchmark, background: .backgroundPut) {
                session, context, recorder, ready in
                try WriteLoops.background(thread: context.threadsHint, session: session, context: context,
                                          recorder: &recorder, ready: ready)
            })
        case .readersBesideCompactor:
            guard try ensureOpen().compact(minimumDeadRatio: 1.1) != nil else {
                return .skipped("N/A: \(name) does not compact on request")
            }
            return .result(try measureReadersBeside(benchmark, background: .compaction) { _, context, recorder, ready in
                try Self.compactUntilReadersEnd(context: context, recorder: &recorder, ready: ready)
            })
        case .notApplicable:
            return .skipped("N/A with --processes: \(benchmark.rawValue) writes, and reader processes only read "
                + "(run it without --processes)")
        case .writerBesideReaders, .unchanged:
            return nil
        }
    }

    /// The executable that reader processes (and recover's child) run.
    func childExecutable() throws -> String {
        guard let executable = config.childExecutable ?? FileSystem.currentExecutable() else {
            throw BenchError("cannot find the kvbench executable to run as a child process")
        }
        return executable
    }

    /// Spawns the `--processes` reader processes for `workload`, sharing `operations` out among their threads, and
    /// waits until each is ready.
    func spawnReaders(_ workload: ReaderWorkload, operations: Int, timeAll: Bool) throws -> ReaderProcesses {
        let jobs = (0..<config.processes).map { process in
            var job = ReaderJob(engine: name, directory: directory, workload: workload, process: process,
                                processes: config.processes, threads: config.threads, operations: operations,
                                num: config.num, keySize: config.keySize, valueSize: config.valueSize,
                                compression: config.compression, seed: config.seed, duration: config.duration,
                                timeAll: timeAll)
            job.mappingBudget = config.mappingBudget.bytes
            job.zipfian = config.zipfian
            return job
        }
        return try ReaderProcesses(executable: try childExecutable(), jobs: jobs)
    }

    /// "2 reader processes × 1 thread".
    var readerProcessesNote: String {
        "\(config.processes) reader process\(config.processes == 1 ? "" : "es") × \(config.threads) "
            + "thread\(config.threads == 1 ? "" : "s")"
    }

    /// A read benchmark whose operations all run in the reader processes, while this process holds the store open.
    /// The time is from the first reader's start to the last one's end.
    private func measureInReaderProcesses(_ benchmark: Benchmark, workload: ReaderWorkload,
                                          operations: Int) throws -> BenchResult {
        try ensureOpen()
        let readers = try spawnReaders(workload, operations: operations,
                                       timeAll: config.timesEveryOperation(operations))
        let before = ProcessSnapshot.now()
        readers.start()
        let figures = ReaderFigures(try readers.collect())
        return try readersResult(benchmark.rawValue, figures: figures, before: before)
    }

    /// The work a thread of this process does beside measured reader processes, until `remainingReaders` is 0.
    typealias BackgroundBody = @Sendable (
        _ session: any EngineSession, _ context: WorkContext, _ recorder: inout Recorder, _ ready: () -> Void
    ) throws -> Void

    /// readrandom in the reader processes while one thread of this process runs `body` (writes or compacts, recording
    /// `background`) until they are done.
    private func measureReadersBeside(_ benchmark: Benchmark, background kind: OpKind,
                                      _ body: @escaping BackgroundBody) throws -> BenchResult {
        let store = try ensureOpen()
        let reads = config.readCount
        let timeAll = config.timesEveryOperation(reads)
        let readers = try spawnReaders(.readrandom, operations: reads, timeAll: timeAll)
        // threadsHint: the background thread's number, after every reader thread's (as in this process).
        let context = WorkContext(
            store: store, keySize: config.keySize, valueSize: config.valueSize, num: config.num, values: values,
            timeAll: timeAll, durationNanos: 0, progress: nil, seeds: seeds,
            threadsHint: config.processes * config.threads, zipfian: config.zipfian)
        context.remainingReaders.store(1, ordering: .relaxed)
        let reports = Mutex<[ReaderReport]>([])
        let backgroundTally = Mutex(Tally())
        let before = ProcessSnapshot.now()
        let (start, end) = try ThreadRunner.run(count: 2) { index, ready in
            if index == 0 {
                defer { context.remainingReaders.store(0, ordering: .relaxed) }
                ready()
                readers.start()
                let collected = try readers.collect()
                reports.withLock { $0 = collected }
            } else {
                let session = try store.makeSession()
                var recorder = Recorder(timeAll: timeAll, thread: context.threadsHint)
                try body(session, context, &recorder, ready)
                try session.finish()
                let tally = recorder.tally
                backgroundTally.withLock { $0 = tally }
            }
        }
        let figures = ReaderFigures(reports.withLock { $0 })
        let writer = backgroundTally.withLock { $0 }
        var merged = figures
        merged.tally.latencies[kind] = writer.latencies[kind]
        var note: String? = nil
        var writerRate: Double? = nil
        if kind == .backgroundPut {
            writerRate = Double(writer.backgroundOps) / max(seconds(from: start, to: end), 1e-9)
            note = Self.writerNote(puts: writer.backgroundOps, perSecond: writerRate!)
        } else if let compactions = writer.latencies[.compaction] {
            note = "\(compactions.totalCount) compactions ran beside the readers"
        }
        var result = try readersResult(benchmark.rawValue, figures: merged, before: before, note: note)
        if writerRate != nil { result.writerOps = writer.backgroundOps }
        result.writerOpsPerSecond = writerRate
        return result
    }

    /// A result measured in the reader processes: their merged figures and process figures, threads = all their
    /// threads, and a note that says how many processes read and how long their opens took.
    private func readersResult(_ name: String, figures: ReaderFigures, before: ProcessSnapshot,
                               note: String? = nil) throws -> BenchResult {
        var tally = figures.tally
        tally.latencies[.readerOpen] = figures.opens
        let notes = [readerProcessesNote, note, figures.openNote].compactMap { $0 }
        var result = try makeResult(name, threads: config.processes * config.threads, seconds: figures.seconds,
                                    tally: tally, before: before, note: notes.joined(separator: "; "))
        result.processes = config.processes
        result.process = figures.process
        result.mapping = figures.mapping
        return result
    }

    /// Background readers for a write benchmark with `--processes`: readrandom in every reader process until
    /// `stop()`; nil without `--processes`, or for a benchmark that is not a writer's.
    func backgroundReaders(for benchmark: Benchmark) throws -> ReaderProcesses? {
        guard config.processes > 0, benchmark.processRole == .writerBesideReaders else { return nil }
        return try spawnReaders(.background, operations: 0, timeAll: false)
    }

    /// Adds the background readers' figures to a write benchmark's tally (as latency rows that the overall latency
    /// leaves out) and says what they did in its note.
    func addBackgroundReaders(_ figures: ReaderFigures, to result: inout BenchResult) {
        result.processes = config.processes
        let rate = figures.seconds > 0 ? Double(figures.tally.ops) / figures.seconds : 0
        result.backgroundReadsPerSecond = rate
        if let gets = figures.tally.latencies[.get] {
            result.latencyByOperation.append(LatencySummary(operation: OpKind.backgroundGet.label, histogram: gets))
        }
        result.latencyByOperation.append(LatencySummary(operation: OpKind.readerOpen.label, histogram: figures.opens))
        let found = figures.tally.attempted > 0 ? figures.tally.found * 100 / figures.tally.attempted : 0
        let note = readerProcessesNote + " read in the background: " + Format.short(rate)
            + " gets/s (\(found)% found); " + figures.openNote
        result.note = [result.note, note].compactMap { $0 }.joined(separator: "; ")
    }
}
