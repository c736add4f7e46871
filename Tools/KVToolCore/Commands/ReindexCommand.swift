#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import KVStore

/// `kvtool reindex STORE`: throw the index away and rebuild it from hint files and segments.
struct ReindexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the index from the hint files and segments.",
        discussion: """
            Deletes the `index` file while holding the store's lock, then opens the store, which \
            rebuilds it. The log is the source of truth, so this is always safe; it fixes an index \
            that verify reports as wrong.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let path = StoreAccess.normalize(store)
        try StoreAccess.check(path)
        let started = Clock.milliseconds()
        try translatingErrors(subject: path) {
            // The lock keeps the index from being deleted under a process that has it open.
            let lock = try ToolingLock(directory: path, create: true)
            defer { lock.release() }
            let index = path + "/" + Store.toolingFileNames.index
            if unlink(index) != 0 && errno != ENOENT {
                throw ToolError(ExitStatus.ioError, "\(index): cannot delete: \(String(cString: strerror(errno)))")
            }
        }
        let (keys, capacity, segments) = try StoreAccess.with(path, for: .modify) { store in
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

