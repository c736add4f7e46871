#if canImport(Glibc)
import Glibc
#endif

/// Runs a kvbench configuration: every engine in turn, the same benchmarks, keys and values for each.
public struct BenchRunner {
    /// The settings.
    public let config: BenchConfig
    /// The engines to run, in `config.engines` order.
    public let engines: [any BenchEngine.Type]

    /// A runner for `config`, choosing among `available` engines by `config.engines`.
    public init(config: BenchConfig, available: [any BenchEngine.Type]) throws {
        self.config = config
        engines = try config.engines.map { name in
            guard let engine = available.first(where: { $0.name == name }) else {
                throw BenchError("unknown engine \"\(name)\"; available: \(available.map { $0.name }.joined(separator: ", "))")
            }
            return engine
        }
    }

    /// Runs everything. Text goes to `text` as each benchmark ends (nil: no text). A benchmark that throws is
    /// reported on stderr and in `skipped`, and the run goes on with the next one.
    public func run(text: ((String) -> Void)? = nil) throws -> Report {
        let host = HostInfo.current()
        let date = Self.utcDate()
        let temporary = config.db == nil
        let root = try config.db ?? FileSystem.makeTemporaryDirectory(prefix: "kvbench")
        defer { if temporary { try? FileSystem.removeTree(root) } }
        try FileSystem.makeDirectories(root)
        text?(TextReport.header(config: config, host: host, date: date, directory: root))

        let values = ValueData(valueSize: config.valueSize, compressionRatio: config.compressionRatio)
        var results: [BenchResult] = [], skipped: [SkippedBenchmark] = []
        for engine in engines {
            text?(TextReport.engineHeading(engine.name, summary: engine.summary))
            let directory = root + "/" + engine.name
            if !config.useExistingDB { try FileSystem.removeTree(directory) }
            let run = EngineRun(engine: engine, directory: directory, config: config, values: values)
            for benchmark in config.benchmarks {
                ProcessSnapshot.resetPeak()
                do {
                    switch try run.run(benchmark) {
                    case .result(let result):
                        results.append(result)
                        text?(TextReport.result(result))
                    case .skipped(let reason):
                        skipped.append(SkippedBenchmark(engine: engine.name, name: benchmark.rawValue, reason: reason))
                        text?(TextReport.skipped(benchmark.rawValue, reason: reason))
                    }
                } catch {
                    let reason = "failed: \(error)"
                    StandardStreams.error("kvbench: \(benchmark.rawValue) on \(engine.name) \(reason)\n")
                    skipped.append(SkippedBenchmark(engine: engine.name, name: benchmark.rawValue, reason: reason, failed: true))
                    text?(TextReport.skipped(benchmark.rawValue, reason: reason))
                    try? run.closeStore()
                }
            }
            try run.finish()
            if temporary { try? FileSystem.removeTree(directory) }
        }
        text?(TextReport.ratios(results, engines: config.engines))
        return Report(date: date, host: host, config: config, results: results, skipped: skipped)
    }

    /// Now, as "2026-11-28T01:30:00Z".
    static func utcDate() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return buffer.withUnsafeBufferPointer {
            String(decoding: UnsafeRawBufferPointer(start: $0.baseAddress, count: n), as: UTF8.self)
        }
    }
}
