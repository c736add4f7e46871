import ArgumentParser
import KVStore

/// `kvtool delete STORE KEY…`: remove keys, all at once.
struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Remove keys, atomically (all or none).",
        discussion: """
            When a key does not exist, nothing is removed and the exit status is 1; with --force, \
            missing keys are skipped and the others removed.
            """,
        aliases: ["del", "rm"])

    @Argument(help: "The store directory.")
    var store: String

    @Argument(help: "The keys to remove.")
    var keys: [String]

    @Flag(name: [.short, .long], help: "Skip keys that do not exist instead of refusing.")
    var force = false

    @OptionGroup var keyInput: KeyInputOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard !keys.isEmpty else { throw ValidationError("give at least one KEY") }
    }

    func run() throws {
        let path = StoreAccess.normalize(store)
        let keyBytes = try keys.map { k in try keyInput.key(k) }
        for k in keyBytes { try StoreAccess.checkKey(k) }
        // Checked with a read-only open first, so that a refused delete changes no file. That open
        // works beside a writer in another process; the delete would not, so it is refused here.
        let (access, missing) = try StoreAccess.with(path, for: .inspect) { store in
            (try LiveAccess(store, path: path), try keyBytes.filter { try !store.containsKey($0) })
        }
        if access.hasWriter {
            throw ToolError(ExitStatus.locked, "\(path): " + LiveAccess.lockedMessage(writerProcessID: access.writerProcessID))
        }
        if !missing.isEmpty && !force {
            let names = missing.map { output.rendering.render($0) }.joined(separator: ", ")
            throw ToolError(ExitStatus.negative, "\(path): no such key: \(names); nothing was deleted (use --force to skip missing keys)")
        }
        let present = keyBytes.filter { k in !missing.contains(k) }
        if !present.isEmpty {
            try StoreAccess.with(path, for: .modify) { store in
                try store.write { batch in for k in present { batch.removeValue(forKey: k) } }
            }
        }
        let deleted = Set(keyBytes).count - Set(missing).count
        if output.json {
            Console.out.line(JSON.object([("deleted", .int(deleted)), ("missing", .int(Set(missing).count))]).text)
        } else {
            Console.out.line("deleted \(Format.count(deleted)) key\(deleted == 1 ? "" : "s")"
                             + (missing.isEmpty ? "" : " (\(Set(missing).count) did not exist)"))
        }
    }
}
