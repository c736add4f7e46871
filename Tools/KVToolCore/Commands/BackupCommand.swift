import ArgumentParser
import KVStore

/// `kvtool backup STORE TARGET`: a consistent copy of a store, also while an application writes it.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a store, while it is in use, into a directory that is a store of its own.",
        discussion: """
            Makes TARGET hold the store's contents at one moment (Store.backup): sealed segments, \
            hint files and dictionaries are hard-linked where TARGET is on the same file system and \
            copied where it is not; the end of the log is copied. Into a TARGET that holds an \
            earlier backup of the same store, only what is new is added, and the new backup \
            replaces the old one in one atomic step: a crash leaves one of them, complete. A TARGET \
            that holds anything else is refused (exit status 73) and left as it is. When another \
            process has the store open for writing, the backup reads it as a live reader (as \
            `stat` does) and brings the earlier backup's index forward or rebuilds one at TARGET; \
            otherwise it opens the store itself (so the application cannot open it meanwhile). \
            Restore by opening the backup, or copy it back first: kvtool backup TARGET NEWSTORE. \
            Check the result with kvtool verify TARGET. Prints `backed up STORE to TARGET: ...`; \
            on a terminal, a progress line counts the files.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Argument(help: "The backup's directory: missing, empty, or an earlier backup of this store.")
    var target: String

    @Flag(name: .customLong("read-only"), help: "Read the store as a live reader even when no writer has it open (changes no byte of it).")
    var readOnly = false

    @OptionGroup var output: OutputOptions

    func run() throws {
        let path = StoreAccess.normalize(store)
        let destination = StoreAccess.normalize(target)
        try StoreAccess.check(path)
        var live = readOnly
        let opened: Store
        if readOnly {
            opened = try StoreAccess.open(path, for: .inspect)
        } else {
            do {
                opened = try Store(path: path, configuration: StoreAccess.configuration(for: .modify))
            } catch let error as KVError where error.code == .locked {
                // A writer in another process: read beside it.
                live = true
                opened = try StoreAccess.open(path, for: .inspect)
                if !output.json { Console.diagnostic("\(path): another process has the store open for writing; backing up what it has written") }
            } catch {
                throw ToolError.wrap(error, subject: path)
            }
        }
        var line: Progress? = nil
        let report: Store.BackupReport
        do {
            report = try opened.backup(to: destination) { progress in
                if line == nil { line = Progress("backup: files", total: progress.files) }
                line?.set(progress.filesDone)
            }
        } catch {
            line?.finish()
            try? opened.close()
            throw ToolError.wrap(error, subject: (error as? KVError)?.code == .notABackup ? destination : path)
        }
        line?.finish()
        try translatingErrors(subject: path) { try opened.close() }
        if output.json {
            Console.out.line(JSON.object([
                ("store", .string(path)), ("target", .string(destination)), ("live", .bool(live)),
                ("incremental", .bool(report.incremental)), ("filesLinked", .int(report.filesLinked)),
                ("filesCopied", .int(report.filesCopied)), ("filesKept", .int(report.filesKept)),
                ("bytesCopied", .int(Int(report.bytesCopied))), ("segmentsAdded", .int(report.segmentsAdded)),
                ("segmentsDropped", .int(report.segmentsDropped)), ("index", .string(report.index.rawValue)),
                ("segmentID", .int(Int(report.segmentID))), ("offset", .int(report.offset)), ("sequence", .int(Int(report.sequence))),
                ("writersHeldMicroseconds", .int(Self.microseconds(report.writersHeld))),
                ("milliseconds", .int(Self.microseconds(report.duration) / 1000)),
            ]).text)
            return
        }
        var text = "backed up \(path) to \(destination)" + (report.incremental ? " (updated)" : "") + ": "
        text += "\(Format.count(report.filesLinked)) files linked, \(Format.count(report.filesCopied)) copied (\(Format.bytes(report.bytesCopied)))"
        if report.incremental {
            text += ", \(Format.count(report.filesKept)) kept; \(report.segmentsAdded) segments added, \(report.segmentsDropped) dropped"
        }
        text += "; index \(report.index.rawValue); ends at \(Self.segmentName(report.segmentID))@\(report.offset), sequence \(report.sequence); "
        text += "\(Self.microseconds(report.duration) / 1000) ms"
        if !live { text += " (writers held \(Self.microseconds(report.writersHeld)) µs)" }
        Console.out.line(text)
    }

    static func microseconds(_ d: Duration) -> Int {
        let (s, a) = d.components
        return Int(s) * 1_000_000 + Int(a / 1_000_000_000_000)
    }

    static func segmentName(_ id: UInt32) -> String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".seg"
    }
}
