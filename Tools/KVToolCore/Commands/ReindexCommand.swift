import ArgumentParser
import KVStore

/// `kvtool reindex STORE`: rebuild the index from the log (hint files and segments).
struct ReindexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the index from the hint files and segments.",
        discussion: """
            Rebuilds the index from the log while holding the store's lock, whatever the existing \
            index says (Store.rebuildIndex), then reports the new index. The log is the source of \
            truth, so this is always safe; it fixes an index that verify reports as wrong. On a \
            terminal a progress line shows the records read (from the hint files, newest segment \
            first) and the keys indexed so far. Exit status 75 while another process has the \
            store open for writing.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let path = StoreAccess.normalize(store)
        try StoreAccess.check(path)
        let started = Clock.milliseconds()
        let progress = RebuildProgressLine()
        var configuration = Store.Configuration()
        configuration.rebuildProgress = { progress.update($0) }
        defer { progress.finish() }
        _ = try translatingErrors(subject: path) { try Store.rebuildIndex(at: path, configuration: configuration) }
        let (keys, capacity, segments) = try StoreAccess.with(path, for: .inspect) { store in
            let statistics = try store.statistics
            return (statistics.keys, statistics.indexCapacity, statistics.segments)
        }
        let elapsed = Clock.milliseconds() - started
        if output.json {
            Console.out.line(JSON.object([("keys", .int(keys)), ("indexCapacity", .int(capacity)), ("segments", .int(segments)),
                                          ("milliseconds", .int(elapsed))]).text)
        } else {
            Console.out.line("rebuilt the index: \(Format.count(keys)) keys from \(segments) segment\(segments == 1 ? "" : "s"), \(Format.count(capacity)) slots (\(elapsed) ms)")
        }
    }
}

/// The progress line of a rebuild: created at the first report, when the number of records is known.
/// `@unchecked Sendable`: the store calls it on the thread that opens the store, which is this one.
final class RebuildProgressLine: @unchecked Sendable {
    private var line: Progress?

    func update(_ progress: Store.RebuildProgress) {
        // A large index is built in passes, each reading every record: the line counts them all.
        if line == nil { line = Progress("reindex: records read", total: progress.records * max(1, progress.passes)) }
        line?.set(progress.passesDone * progress.records + progress.recordsRead)
    }

    func finish() { line?.finish() }
}
