#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The child side of `--processes`: a kvbench started with the hidden `reader-child` subcommand opens the store with
/// the engine's `openReader` (timed), prepares its threads, prints `ready`, waits for the start signal, runs its share
/// of the job on its threads and prints `result <JSON report>`, or `error <message>` if anything throws.
///
/// The parent signals through two pipes that every reader process shares: one byte for each process on its
/// stdin starts them all at once (end of file instead means the parent is gone, and the process exits); the end of
/// file on descriptor 3 tells background readers to stop.
enum ReaderChild {
    static let readyLine = "ready"
    static let resultPrefix = "result "
    static let errorPrefix = "error "
    /// The child's descriptor of the start pipe (stdin) and of the stop pipe.
    static let startDescriptor: Int32 = 0
    static let stopDescriptor: Int32 = 3

    /// The child's command line (after the executable).
    static func arguments(_ job: ReaderJob) -> [String] { ["reader-child", job.json.rendered()] }

    /// Runs `job` and prints its lines; an error is printed as `error …` and rethrown.
    static func run(_ job: ReaderJob) throws {
        do {
            let report = try measure(job)
            StandardStreams.output(resultPrefix + report.json.rendered() + "\n")
        } catch {
            StandardStreams.output(errorPrefix + "\(error)".replacingNewlines() + "\n")
            throw error
        }
    }

    private static func measure(_ job: ReaderJob) throws -> ReaderReport {
        let engine = try EngineRegistry.engine(named: job.engine)
        let t0 = monotonicNanos()
        let store = try engine.openReader(directory: job.directory, options: job.engineOptions)
        let openNanos = monotonicNanos() &- t0
        defer { try? store.close() }

        let seeds = OrderSeeds(base: job.seed)
        let keys: [UInt32]
        switch job.workload {
        case .readrandom, .background: keys = KeyOrder.permutation(count: job.num, seed: seeds.reads)
        case .readmissing: keys = KeyOrder.permutation(count: job.num, seed: seeds.missing)
        case .readhot, .readseq, .ycsbC: keys = []
        }
        let allThreads = job.processes * job.threads
        let context = WorkContext(
            store: store, keySize: job.keySize, valueSize: job.valueSize, num: job.num,
            values: ValueData(valueSize: job.valueSize, compressionRatio: 1), timeAll: job.timeAll,
            durationNanos: job.workload == .background ? 0 : UInt64(job.duration * 1e9), progress: nil, seeds: seeds,
            threadsHint: allThreads, zipfian: job.zipfian)
        let tallies = Mutex<[Tally]>([])
        // Outside the timed part: kvstore's statistics walk the whole index.
        let mappingBefore = try store.mappingFigures()
        let before = ProcessSnapshot.now()
        // Background readers have one more thread, which waits for the stop signal.
        let threads = job.workload == .background ? job.threads + 1 : job.threads
        let (start, end) = try ThreadRunner.run(count: threads, release: {
            StandardStreams.output(readyLine + "\n")
            if !waitForStart() { exit(3) }
        }) { index, ready in
            if index == job.threads {
                ready()
                waitForEndOfFile(stopDescriptor)
                context.stopped.store(true, ordering: .relaxed)
                return
            }
            let session = try store.makeSession()
            let thread = job.globalThread(index)
            var recorder = Recorder(timeAll: job.timeAll, thread: thread)
            let part = share(of: job.operations, thread: thread, threads: allThreads)
            switch job.workload {
            case .readrandom, .readmissing:
                try ReadLoops.get(order: keys, start: part.start, count: part.count,
                                  missing: job.workload == .readmissing, session: session, context: context,
                                  recorder: &recorder, ready: ready)
            case .background:
                // Each thread starts at its own place in readrandom's order, and wraps around until told to stop.
                try ReadLoops.get(order: keys, start: share(of: job.num, thread: thread, threads: allThreads).start,
                                  count: .max, missing: false, session: session, context: context,
                                  recorder: &recorder, ready: ready)
            case .readhot:
                try ReadLoops.hot(thread: thread, count: part.count, session: session, context: context,
                                  recorder: &recorder, ready: ready)
            case .readseq:
                try ReadLoops.scan(session: session, context: context, recorder: &recorder, ready: ready)
            case .ycsbC:
                try YCSBLoop.run(mix: Benchmark.ycsbC.ycsbMix!, thread: thread, count: part.count, session: session,
                                 context: context, recorder: &recorder, ready: ready)
            }
            try session.finish()
            let tally = recorder.tally
            tallies.withLock { $0.append(tally) }
        }
        var process = ProcessSnapshot.now()
        process.minorFaults -= before.minorFaults
        process.majorFaults -= before.majorFaults
        let mapping = try store.mappingFigures()?.since(mappingBefore)
        return ReaderReport(tally: Tally.merged(tallies.withLock { $0 }), start: start, end: end, openNanos: openNanos,
                            process: process, mapping: mapping)
    }

    /// Reads this process's start byte; false at end of file (the parent is gone).
    private static func waitForStart() -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = read(startDescriptor, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            return n == 1
        }
    }

    /// Blocks until `fd` is at end of file (or fails).
    private static func waitForEndOfFile(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
        }
    }
}

extension String {
    /// The string with line breaks replaced by spaces (one protocol line).
    func replacingNewlines() -> String { String(map { $0.isNewline ? " " : $0 }) }
}
