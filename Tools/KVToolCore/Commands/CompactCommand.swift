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
            one line per sealed segment saying whether it would be compacted and why, then \
            `would compact N segments: BEFORE -> about AFTER`, AFTER being their live bytes (JSON: \
            "estimated": true, and the record counts null).
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Flag(name: .customLong("dry-run"), help: "Only say what would be compacted; opens the store read-only and changes nothing.")
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
        // A dry run opens the store read-only (Store.compact plans on a read-only store): it changes
        // no byte of the store, also after a crash, when an open for writing would recover.
        let report = try StoreAccess.with(path, for: dryRun ? .inspect : .modify) { store in
            progress.show()
            defer { progress.finish() }
            return try store.compact(options)
        }
        let summary = Summary(report)
        if output.json {
            Console.out.line(json(report, summary).text)
            return
        }
        if dryRun {
            for s in report.segments {
                Console.out.line("\(fileName(s.path)): \(s.compacted ? "compact" : "keep"): \(s.reason)")
            }
        }
        let n = summary.segments
        var line = (dryRun ? "would compact" : "compacted") + " \(Format.count(n)) segment\(n == 1 ? "" : "s"): "
        if summary.estimated {
            line += "\(Format.bytes(summary.bytesBefore)) -> about \(Format.bytes(summary.bytesAfter)) "
                + "(would reclaim about \(Format.bytes(summary.bytesBefore - summary.bytesAfter)))"
        } else {
            line += "\(Format.bytes(summary.bytesBefore)) -> \(Format.bytes(summary.bytesAfter)) "
                + "(\(dryRun ? "would reclaim" : "reclaimed") \(Format.bytes(summary.bytesBefore - summary.bytesAfter)), "
                + "\(Format.count(report.recordsCopied)) records)"
        }
        Console.out.line(line)
    }

    /// The totals the summary shows. A dry run copies nothing, so the library's totals stay at
    /// zero; what it would do is then counted from the segments it chose, with their live bytes
    /// as the estimate of what the copies take.
    private struct Summary {
        var segments: Int
        var bytesBefore: Int64
        var bytesAfter: Int64
        /// Whether the figures are the plan's rather than what was done.
        var estimated: Bool

        init(_ report: Store.CompactionReport) {
            if report.dryRun && report.segmentsCompacted == 0 {
                let chosen = report.segments.filter(\.compacted)
                segments = chosen.count
                bytesBefore = chosen.reduce(0) { $0 + $1.bytes }
                bytesAfter = chosen.reduce(0) { $0 + $1.liveBytes }
                estimated = true
            } else {
                segments = report.segmentsCompacted
                bytesBefore = report.bytesBefore
                bytesAfter = report.bytesAfter
                estimated = false
            }
        }
    }

    private func json(_ report: Store.CompactionReport, _ summary: Summary) -> JSON {
        // Records and tombstones are known only once copied: a dry run cannot say.
        func copied(_ n: Int) -> JSON { summary.estimated ? .null : .int(n) }
        return .object([
            ("dryRun", .bool(report.dryRun)), ("estimated", .bool(summary.estimated)),
            ("segmentsCompacted", .int(summary.segments)),
            ("bytesBefore", .int(summary.bytesBefore)), ("bytesAfter", .int(summary.bytesAfter)),
            ("reclaimedBytes", .int(summary.bytesBefore - summary.bytesAfter)), ("recordsCopied", copied(report.recordsCopied)),
            ("tombstonesKept", copied(report.tombstonesKept)), ("tombstonesDropped", copied(report.tombstonesDropped)),
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
