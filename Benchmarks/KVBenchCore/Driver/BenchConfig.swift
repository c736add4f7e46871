/// Every setting of a kvbench run (the command-line flags, resolved).
public struct BenchConfig: Sendable {
    /// `--format`.
    public enum Format: String, Sendable, CaseIterable { case text, json }

    /// `--benchmarks`, in order.
    public var benchmarks: [Benchmark] = Benchmark.defaultList
    /// `--num`: keys written by the fill benchmarks.
    public var num = 1_000_000
    /// `--reads`: operations of the read and YCSB benchmarks (nil: `num`).
    public var reads: Int?
    /// `--key-size`.
    public var keySize = 16
    /// `--value-size`.
    public var valueSize = 100
    /// `--dataset`: keys and values from a file; `num` is its line count.
    public var dataset: Dataset?
    /// `--compression-ratio`.
    public var compressionRatio = 0.5
    /// `--threads`.
    public var threads = 1
    /// `--processes`: reader processes (0: every benchmark runs in this process alone, as without the flag).
    public var processes = 0
    /// `--compression`.
    public var compression: CompressionSetting = .none
    /// `--auto-compaction`: whether engines that compact on their own may.
    public var automaticCompaction = true
    /// `--durability`.
    public var durability: DurabilitySetting = .process
    /// `--mapping-budget`: for engines that map their files within a budget (kvstore).
    public var mappingBudget: MappingBudgetSetting = .engineDefault
    /// `--zipfian`: where the YCSB workloads' zipfian distribution puts its popular keys.
    public var zipfian: ZipfianOrder = .scrambled
    /// `--engine`, in order (the first is the ratio table's reference).
    public var engines: [String] = ["kvstore"]
    /// `--db`: where the stores live (each engine in `<db>/<engine>`); nil: a temporary directory, removed after.
    public var db: String?
    /// `--use-existing-db`.
    public var useExistingDB = false
    /// `--async-writers`: fillsync from this many Swift tasks through the async API (0: threads).
    public var asyncWriters = 0
    /// `--backup-dir`: the parent of the backups `backup` and `fillwhilebackingup` make; nil: beside the store.
    public var backupDirectory: String?
    /// `--seed`.
    public var seed: UInt64 = 1
    /// `--duration` in seconds (0: fixed operation counts).
    public var duration: Double = 0
    /// `--cold`.
    public var cold = false
    /// `--format`.
    public var format: Format = .text
    /// `--output`: also write the JSON report to this file.
    public var output: String?
    /// The executable `recover` re-runs as its child (nil: this process's own executable).
    public var childExecutable: String?
    /// Progress lines on stderr (default: when stderr is a terminal).
    public var showProgress = StandardStreams.stderrIsTerminal

    /// Defaults everywhere.
    public init() {}

    /// Read and YCSB operations.
    public var readCount: Int { reads ?? num }

    /// The mapping budget kvstore opens with: `--mapping-budget`, or the library's default.
    public var mappingBudgetBytes: Int { mappingBudget.bytes ?? KVStoreEngine.defaultMappingBudget }

    /// Whether every operation is timed (fewer than 500,000 in a benchmark) rather than a pseudo-random 1/16.
    func timesEveryOperation(_ operations: Int) -> Bool { duration == 0 && operations < 500_000 }

    /// The options engines are opened with, for `durability`.
    func engineOptions(durability: DurabilitySetting? = nil) -> EngineOptions {
        var options = EngineOptions(compression: compression, durability: durability ?? self.durability, expectedKeys: num,
                                    keySize: keySize, valueSize: valueSize)
        options.automaticCompaction = automaticCompaction
        options.mappingBudget = mappingBudget.bytes
        return options
    }
}
