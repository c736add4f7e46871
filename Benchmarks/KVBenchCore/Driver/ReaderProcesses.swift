#if canImport(Glibc)
import Glibc
#endif
import Histogram
import Synchronization

/// The parent side of `--processes`: the reader processes of one benchmark. Making it spawns them and waits until
/// each has opened the store and is ready; `start()` lets them all go at once, `stop()` ends background readers,
/// `collect()` reads their reports. Processes still running when it goes away are killed.
final class ReaderProcesses: Sendable {
    /// Most reader processes: the start signal is one write of a byte each, which a pipe takes whole up to 4 KiB.
    static let maximumCount = 256

    private let children: Mutex<[ChildProcess]>
    private let startPipe: Pipe
    private let stopPipe: Pipe

    /// Spawns one `executable reader-child` per job and waits until every one is ready.
    init(executable: String, jobs: [ReaderJob]) throws {
        precondition(!jobs.isEmpty && jobs.count <= Self.maximumCount)
        let startPipe = try Pipe(), stopPipe = try Pipe()
        var spawned: [ChildProcess] = []
        for job in jobs {
            spawned.append(try ChildProcess(
                executable: executable, arguments: ReaderChild.arguments(job),
                descriptors: [ReaderChild.startDescriptor: startPipe.read, ReaderChild.stopDescriptor: stopPipe.read]))
        }
        // The children hold their own copies of the read ends. The start pipe's stays open here too, so that the
        // start signal cannot raise SIGPIPE in kvbench if every reader process has died meanwhile.
        stopPipe.closeRead()
        for (number, child) in spawned.enumerated() {
            let line = try child.nextLine()
            guard line == ReaderChild.readyLine else {
                throw Self.failure(of: child, number: number, line: line, before: "it was ready")
            }
        }
        self.startPipe = startPipe
        self.stopPipe = stopPipe
        children = Mutex(spawned)
    }

    /// Number of reader processes.
    var count: Int { children.withLock { $0.count } }

    /// Lets every reader process go (one byte each, in one write).
    func start() {
        let bytes = [UInt8](repeating: 1, count: count)
        _ = bytes.withUnsafeBytes { write(startPipe.write, $0.baseAddress, $0.count) }
    }

    /// Tells background readers to stop (end of file on their stop pipe).
    func stop() { stopPipe.closeWrite() }

    /// Each process's report, in process order, once all have ended; throws the first failure.
    func collect() throws -> [ReaderReport] {
        try children.withLock { children in
            var reports: [ReaderReport] = []
            for (number, child) in children.enumerated() {
                guard let line = try child.nextLine(), line.hasPrefix(ReaderChild.resultPrefix) else {
                    throw Self.failure(of: child, number: number, line: nil, before: "it reported")
                }
                let status = child.waitForExit()
                guard status == 0 else {
                    throw BenchError("reader process \(number) exited with status \(status) after its report")
                }
                let json = try JSONValue.parse(String(line.dropFirst(ReaderChild.resultPrefix.count)))
                reports.append(try ReaderReport(json: json))
            }
            return reports
        }
    }

    /// The error of a child that printed `error …` (in `line`, the unexpected line read, or later) or ended early.
    private static func failure(of child: ChildProcess, number: Int, line: String?, before what: String) -> BenchError {
        var next = line ?? (try? child.nextLine())
        while let line = next {
            if line.hasPrefix(ReaderChild.errorPrefix) {
                child.waitForExit()
                return BenchError("reader process \(number): " + line.dropFirst(ReaderChild.errorPrefix.count))
            }
            next = try? child.nextLine()
        }
        let status = child.waitForExit()
        return BenchError("reader process \(number) ended (wait status \(status)) before \(what)")
    }
}

/// The merged figures of several reader processes.
struct ReaderFigures {
    /// Their tallies summed, their latencies merged.
    var tally: Tally
    /// Their process figures: the largest peak RSS and VmSize, the page faults of all of them.
    var process: ProcessSnapshot
    /// From the first process's start to the last one's end: the wall time of all of them.
    var seconds: Double
    /// Their open times, ns.
    var opens: Histogram<UInt64>
    /// Their mapping figures added up (each process maps on its own); nil when the engine reports none.
    var mapping: MappingFigures?

    init(_ reports: [ReaderReport]) {
        tally = Tally.merged(reports.map(\.tally))
        process = ProcessSnapshot(peakRSSKB: reports.map(\.process.peakRSSKB).max() ?? 0,
                                  vmSizeKB: reports.map(\.process.vmSizeKB).max() ?? 0,
                                  minorFaults: reports.reduce(0) { $0 + $1.process.minorFaults },
                                  majorFaults: reports.reduce(0) { $0 + $1.process.majorFaults },
                                  peakAnonKB: reports.map(\.process.peakAnonKB).max() ?? 0)
        let start = reports.map(\.start).min() ?? 0, end = reports.map(\.end).max() ?? 0
        seconds = end > start ? Double(end - start) / 1e9 : 0
        mapping = MappingFigures.sum(reports.compactMap(\.mapping))
        opens = Recorder.makeHistogram()
        for report in reports { opens.record(max(report.openNanos, 1)) }
    }

    /// "reader open: median 0.81 ms, max 0.95 ms".
    var openNote: String {
        "reader open: median " + Format.fixed(Double(opens.valueAtPercentile(50)) / 1e6, 2) + " ms, max "
            + Format.fixed(Double(opens.max) / 1e6, 2) + " ms"
    }
}
