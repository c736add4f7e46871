import Histogram

/// Latency percentiles of one operation type, in microseconds, from an HdrHistogram of nanoseconds.
public struct LatencySummary: Sendable, Equatable {
    /// The operation ("get", "put", "read", …, or "all").
    public var operation: String
    /// Operations timed (all of them, or a 1/16 sample in large runs).
    public var count: Int
    /// Median, µs.
    public var p50: Double
    /// 90th percentile, µs.
    public var p90: Double
    /// 99th percentile, µs.
    public var p99: Double
    /// 99.9th percentile, µs.
    public var p999: Double
    /// Largest, µs.
    public var max: Double

    /// The summary of `histogram` (nanoseconds) for `operation`.
    init(operation: String, histogram: Histogram<UInt64>) {
        self.operation = operation
        count = Int(histogram.totalCount)
        func micros(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }
        p50 = micros(50)
        p90 = micros(90)
        p99 = micros(99)
        p999 = micros(99.9)
        max = Double(histogram.max) / 1000
    }

    /// A summary with every field given (tests, peers).
    public init(operation: String, count: Int, p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
        self.operation = operation
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }
}

/// The outcome of one benchmark on one engine.
public struct BenchResult: Sendable {
    /// The engine's `--engine` name.
    public var engine: String
    /// The benchmark's name.
    public var name: String
    /// Threads that did the measured operations.
    public var threads: Int
    /// Operations done (for `rebuild`: keys indexed; for `open`: opens).
    public var ops: Int
    /// Wall-clock seconds from the start of the first thread to the end of the last (and the final sync of a write
    /// benchmark).
    public var seconds: Double
    /// Key and value bytes moved.
    public var bytes: Int64
    /// Reads that found their key / deletes that removed one / entries scanned / keys present after recovery.
    public var found: Int?
    /// Reads (or deletes, or recovered keys) attempted: the second number of "(N of N found)".
    public var attempted: Int?
    /// Inconsistencies seen (values of the wrong size).
    public var errors: Int
    /// A remark for the text report (e.g. "keys/s", the writer's rate in readwhilewriting).
    public var note: String?
    /// Latency over all measured operations.
    public var latency: LatencySummary?
    /// Latency per operation type.
    public var latencyByOperation: [LatencySummary]
    /// Process figures after the benchmark: peak RSS during the benchmark, current VmSize, and the page faults
    /// during the benchmark. Of the reader processes when they did the measured operations (`--processes`): the
    /// largest peak RSS and VmSize, the faults of all of them.
    public var process: ProcessSnapshot
    /// What the store maps for reads (engines with a mapping budget: kvstore): the bytes and segments mapped at the end
    /// of the benchmark, the maps and unmaps during it. Of the reader processes when they did the measured operations
    /// (`--processes`): the sums over them. Nil for the other engines.
    public var mapping: MappingFigures? = nil
    /// Bytes allocated on disk by the store's files after the benchmark (store open, writes synced).
    public var diskBytes: Int64
    /// Index bytes per key, for engines with a separate index.
    public var indexBytesPerKey: Double?
    /// Writes per sync round during the benchmark (fillsync: group commit), for engines that count syncs.
    public var writesPerSync: Double? = nil
    /// readwhilewriting: the puts of the writer beside the measured readers, and their rate over its own time.
    public var writerOps: Int? = nil
    public var writerOpsPerSecond: Double? = nil
    /// `--processes`: the reader processes that did the measured reads, or that read beside a write benchmark; nil
    /// when the benchmark ran in kvbench's own process alone.
    public var processes: Int? = nil
    /// A write benchmark with `--processes`: the gets per second of the reader processes reading in the background.
    public var backgroundReadsPerSecond: Double? = nil

    /// Operations per second of wall-clock time.
    public var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }
    /// MiB moved per second (db_bench's "MB/s").
    public var mbPerSecond: Double { seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0 }
    /// Microseconds per operation per thread (db_bench's "micros/op").
    public var microsPerOp: Double { ops > 0 ? seconds * 1e6 * Double(threads) / Double(ops) : 0 }
}

/// A benchmark that did not run on an engine, and why.
public struct SkippedBenchmark: Sendable, Equatable {
    /// The engine's name.
    public var engine: String
    /// The benchmark's name.
    public var name: String
    /// "N/A: …", "skipped: …" or "failed: …".
    public var reason: String
    /// Whether the benchmark threw (the reason is then "failed: …"), rather than not applying.
    public var failed = false
}

/// Everything one kvbench run produced.
public struct Report: Sendable {
    /// UTC start time, ISO 8601.
    public var date: String
    /// The machine.
    public var host: HostInfo
    /// The settings.
    public var config: BenchConfig
    /// Every benchmark that ran, engine by engine, in order.
    public var results: [BenchResult]
    /// Every benchmark that did not.
    public var skipped: [SkippedBenchmark]
}
