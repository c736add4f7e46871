import ArgumentParser
import KVStore

/// `kvtool compact STORE [--dry-run] [thresholds]`: reclaim the space of dead records.
struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Rewrite the live records of fragmented sealed segments and delete the old segments.",
        discussion: """
            A sealed segment is compacted when both thresholds are crossed. Prints \
            `compacted N segments: BEFORE -> AFTER (reclaimed BYTES, R records)`; with --dry-run, \
            one line per sealed segment saying whether it would be compacted and why.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Flag(name: .customLong("dry-run"), help: "Only say what would be compacted; change nothing.")
    var dryRun = false

    @Option(name: .customLong("min-fragmentation"), help: "Compact segments with at least this percentage of dead bytes (default 50).")
    var minFragmentation: Double?

    @Option(name: .customLong("min-dead-bytes"), help: "...and at least this many dead bytes: 1048576, 512K, 128MiB (default 1MiB).")
    var minDeadBytes: ByteSize?

    @Option(name: .customLong("max-rate"), help: "Copy at most this many bytes per second (default: as fast as possible).")
    var maxRate: ByteSize?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let minFragmentation, !(0...100).contains(minFragmentation) {
            throw ValidationError("--min-fragmentation is a percentage: 0 to 100")
        }
        if let maxRate, maxRate.bytes <= 0 { throw ValidationError("--max-rate must be positive") }
    }

    func run() throws {
        let path = StoreAccess.normalize(store)
        var options = Store.CompactionOptions()
        if let minFragmentation { options.minimumDeadRatio = minFragmentation / 100 }
        if let minDeadBytes { options.minimumDeadBytes = minDeadBytes.bytes }
        options.maximumBytesPerSecond = maxRate?.bytes
        options.dryRun = dryRun
        let progress = Progress(dryRun ? "looking at segments" : "compacting")
        // A dry run too needs the writer: Store.compact refuses a read-only store.
        let report = try StoreAccess.with(path, for: .modify) { store in
            progress.show()
            defer { progress.finish() }
            return try store.compact(options)
        }
        if output.json {
            Console.out.line(json(report).text)
            return
        }
        if dryRun {
            for s in report.segments {
                Console.out.line("\(fileName(s.path)): \(s.compacted ? "compact" : "keep"): \(s.reason)")
            }
        }
        let n = report.segmentsCompacted
        Console.out.line((dryRun ? "would compact" : "compacted") + " \(Format.count(n)) segment\(n == 1 ? "" : "s"): "
                         + "\(Format.bytes(report.bytesBefore)) -> \(Format.bytes(report.bytesAfter)) "
                         + "(\(dryRun ? "would reclaim" : "reclaimed") \(Format.bytes(report.reclaimedBytes)), \(Format.count(report.recordsCopied)) records)")
    }

    private func json(_ report: Store.CompactionReport) -> JSON {
        .object([
            ("dryRun", .bool(report.dryRun)), ("segmentsCompacted", .int(report.segmentsCompacted)),
            ("bytesBefore", .int(report.bytesBefore)), ("bytesAfter", .int(report.bytesAfter)),
            ("reclaimedBytes", .int(report.reclaimedBytes)), ("recordsCopied", .int(report.recordsCopied)),
            ("tombstonesKept", .int(report.tombstonesKept)), ("tombstonesDropped", .int(report.tombstonesDropped)),
            ("seconds", .double(report.seconds)),
            ("segments", .array(report.segments.map { s in
                .object([("file", .string(fileName(s.path))), ("bytes", .int(s.bytes)), ("liveBytes", .int(s.liveBytes)),
                         ("deadBytes", .int(s.deadBytes)), ("compacted", .bool(s.compacted)), ("reason", .string(s.reason))])
            })),
        ])
    }

    private func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
