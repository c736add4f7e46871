import ArgumentParser

/// The `kvbench` command: runs db_bench- and YCSB-style workloads against one or more engines and reports
/// throughput, latency percentiles and, with several engines, ratios against the first.
///
/// The root package's `kvbench` calls `main()` (engines `kvstore` and `floor`); the peers package calls
/// `main(engines:)` with its own list, so both binaries share this command and the whole driver.
public struct KVBenchCommand: ParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "kvbench",
            abstract: "Load generator for KVStore: db_bench and YCSB workloads, several engines side by side.",
            usage: "kvbench [--benchmarks <name,...>] [--engine <name> ...] [--num <n>] [<options>]",
            discussion: """
                Benchmarks (--benchmarks, comma-separated, run in the order given):
                \(Benchmark.allCases.map { "  " + $0.rawValue.padding(18) + $0.summary }.joined(separator: "\n"))

                Engines (--engine, repeatable; each runs the same workloads in turn, the first is the ratio reference):
                \(EngineRegistry.engines.map { "  " + $0.name.padding(18) + $0.summary }.joined(separator: "\n"))

                Each engine's store lives in <db>/<engine>. Fill benchmarks start from an empty store; the others use \
                what the previous benchmarks left. Warm read benchmarks re-read the store's files first (this kind \
                of machine evicts idle page cache after about a minute). Latency is timed around every operation \
                when a benchmark has fewer than 500000, otherwise around a hashed pseudo-random 1/16 of them.

                \(ReaderProcessesHelp.text)

                Build in release: swift build -c release --product kvbench
                """,
            subcommands: [RecoverChildCommand.self, ReaderChildCommand.self]
        )
    }

    @Option(help: "Comma-separated benchmark names.")
    var benchmarks: String = Benchmark.defaultList.map(\.rawValue).joined(separator: ",")

    @Option(help: "Keys written by the fill benchmarks (the key space).")
    var num: Int = 1_000_000

    @Option(help: "Operations of the read and YCSB benchmarks (default: --num).")
    var reads: Int?

    @Option(help: "Key size in bytes (keys are the zero-padded decimal key number).")
    var keySize: Int = 16

    @Option(help: "Value size in bytes.")
    var valueSize: Int = 100

    @Option(help: "Fraction of each value that is random (db_bench's values: LZ4 stores them in about this fraction).")
    var compressionRatio: Double = 0.5

    @Option(help: "Threads doing the measured operations (with --processes: in each reader process).")
    var threads: Int = 1

    @Option(help: "Reader processes beside kvbench's own, which writes (0: none; see below).")
    var processes: Int = 0

    @Option(help: "Engine compression: none, lz4 (kvstore: with dictionaries it trains from the values) or lz4-plain (per-record LZ4 only).")
    var compression: CompressionSetting = .none

    @Option(help: ArgumentHelp(
        "Keys and values from a file of NDJSON lines {\"key\":…,\"value\":…} (kvtool export's output) instead of generated "
            + "ones: --num becomes its line count. For fillseq, fillrandom, overwrite, readrandom, readseq, open, rebuild, compact."))
    var dataset: String?

    @Option(help: "fillsync from this many concurrent Swift tasks through the async API (kvstore; 0: --threads threads, the synchronous API).")
    var asyncWriters: Int = 0

    @Option(help: "Where backup and fillwhilebackingup put the backup (default: beside the store, on its file system). A directory on another file system measures the copy across file systems.")
    var backupDir: String?

    @Option(help: "Automatic compaction of engines that have it (kvstore): on (the engine's default) or off.")
    var autoCompaction: AutoCompactionSetting = .on

    @Option(help: "Durability: process, sync or periodic:MS (fillsync always uses sync).")
    var durability: DurabilitySetting = .process

    @Option(help: ArgumentHelp(
        "kvstore: bytes of sealed segments each store handle may keep mapped for reads: a count (65536, 64K, 256MiB, "
            + "1G; K = 1024), 0 (never map: every get reads with pread) or default (Store.Configuration."
            + "defaultMappingBudget: 1 GiB, or an eighth of the memory when less). Every open uses it, reader "
            + "processes' and recover's child's too; the other engines ignore it.",
        valueName: "bytes|default"))
    var mappingBudget: MappingBudgetSetting = .engineDefault

    @Option(help: ArgumentHelp(
        "Key choice of the zipfian YCSB workloads (ycsb-a, -b, -c, -f): scrambled (YCSB's zipfian: the popular keys "
            + "hashed all over the key space) or ordered (the plain Zipfian over key numbers: key 0 the most popular, "
            + "then 1, …; after fillseq, the keys written first, which a log-structured store keeps together in its "
            + "first segments).",
        valueName: "scrambled|ordered"))
    var zipfian: ZipfianOrder = .scrambled

    @Option(name: .customLong("engine"), help: "Engine to run (repeatable, or comma-separated; default: kvstore).")
    var engine: [String] = []

    @Option(help: "Directory of the stores (default: a temporary directory, removed afterwards).")
    var db: String?

    @Flag(help: "Use the stores already in --db; skip benchmarks that would destroy them.")
    var useExistingDb = false

    @Option(help: "Seed of every key order and random stream.")
    var seed: UInt64 = 1

    @Option(help: "Run each benchmark for this many seconds instead of a fixed count (0: off).")
    var duration: Double = 0

    @Flag(help: "Drop the store's data files from the page cache (fdatasync + posix_fadvise DONTNEED) before each read benchmark.")
    var cold = false

    @Option(help: "Report format on stdout: text or json.")
    var format: BenchConfig.Format = .text

    @Option(help: "Also write the JSON report to this file.")
    var output: String?

    public init() {}

    /// Runs the command with `engines` available (the peers build passes its own list).
    public static func main(engines: [any BenchEngine.Type]) {
        EngineRegistry.engines = engines
        main()
    }

    public func validate() throws {
        _ = try makeConfig()
    }

    /// The configuration the flags describe.
    func makeConfig() throws -> BenchConfig {
        var config = BenchConfig()
        // A dataset decides these.
        var num = self.num, keySize = self.keySize, valueSize = self.valueSize
        config.benchmarks = try benchmarks.split(separator: ",").map { name in
            let trimmed = name.trimmingSpaces()
            guard let benchmark = Benchmark(rawValue: trimmed) else {
                throw ValidationError("unknown benchmark \"\(trimmed)\"; known: "
                    + Benchmark.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return benchmark
        }
        if let dataset {
            let loaded: Dataset
            do { loaded = try Dataset.load(path: dataset) } catch { throw ValidationError("--dataset: \(error)") }
            let allowed: Set<Benchmark> = [.fillseq, .fillrandom, .overwrite, .readrandom, .readseq, .open, .rebuild, .compact]
            if let other = config.benchmarks.first(where: { !allowed.contains($0) }) {
                throw ValidationError("--dataset does not work with \(other.rawValue)")
            }
            config.dataset = loaded
            num = loaded.count
            keySize = max(loaded.longestKey, String(3 * num).count)
            valueSize = loaded.totalValueBytes / loaded.count
        }
        guard num >= 1 else { throw ValidationError("--num must be at least 1") }
        guard num <= Int(UInt32.max) else { throw ValidationError("--num must be below 2^32") }
        guard (reads ?? 1) >= 1 else { throw ValidationError("--reads must be at least 1") }
        guard valueSize >= 0 else { throw ValidationError("--value-size must not be negative") }
        guard compressionRatio > 0 && compressionRatio <= 1 else {
            throw ValidationError("--compression-ratio must be in (0, 1]")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
        // Keys must stay distinct up to the largest key number (YCSB D inserts beyond --num).
        let largest = String(2 * num + (reads ?? num))
        guard keySize >= largest.count else {
            throw ValidationError("--key-size \(keySize) is too small for --num \(num): need \(largest.count)")
        }
        let names = engine.flatMap { $0.split(separator: ",").map { $0.trimmingSpaces() } }
        config.engines = names.isEmpty ? ["kvstore"] : names
        for name in config.engines { _ = try EngineRegistry.engine(named: name) }
        if Set(config.engines).count != config.engines.count {
            throw ValidationError("each --engine may be given once")
        }
        if useExistingDb && db == nil { throw ValidationError("--use-existing-db needs --db") }
        guard processes >= 0 && processes <= ReaderProcesses.maximumCount else {
            throw ValidationError("--processes must be between 0 and \(ReaderProcesses.maximumCount)")
        }
        if processes > 0 {
            var refused: [String] = []
            for name in config.engines where !(try EngineRegistry.engine(named: name)).hasReaderProcesses {
                refused.append(name)
            }
            if !refused.isEmpty {
                let able = EngineRegistry.engines.filter { $0.hasReaderProcesses }.map { $0.name }
                throw ValidationError("--processes: \(refused.joined(separator: ", ")) cannot be read by other "
                    + "processes while it is open for writing (engines that can: \(able.joined(separator: ", ")))")
            }
        }
        config.num = num
        config.reads = reads
        config.keySize = keySize
        config.valueSize = valueSize
        config.compressionRatio = compressionRatio
        config.threads = threads
        config.processes = processes
        config.compression = compression
        config.automaticCompaction = autoCompaction == .on
        config.durability = durability
        config.mappingBudget = mappingBudget
        config.zipfian = zipfian
        config.db = db
        config.useExistingDB = useExistingDb
        config.backupDirectory = backupDir
        config.asyncWriters = asyncWriters
        config.seed = seed
        config.duration = duration
        config.cold = cold
        config.format = format
        config.output = output
        return config
    }

    public func run() throws {
        if HostInfo.isDebugBuild {
            StandardStreams.error("""
                **********************************************************************
                WARNING: kvbench is a DEBUG build: its figures are meaningless.
                Use a release build: swift run -c release kvbench ...
                **********************************************************************

                """)
        }
        let config = try makeConfig()
        let runner = try BenchRunner(config: config, available: EngineRegistry.engines)
        let text: ((String) -> Void)? = config.format == .text ? { StandardStreams.output($0) } : nil
        let report = try runner.run(text: text)
        let json = JSONReport.render(report)
        if config.format == .json { StandardStreams.output(json) }
        if let output = config.output { try ReportFile.write(json, to: output) }
        if report.skipped.contains(where: \.failed) { throw ExitCode.failure }
    }
}

extension String {
    /// The string padded with spaces to `width` characters.
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}

/// `--auto-compaction on|off`.
public enum AutoCompactionSetting: String, ExpressibleByArgument, Sendable {
    case on, off
}
