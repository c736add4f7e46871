import ArgumentParser

/// `kvtool`: inspect, verify, repair, export and import a KVStore.
///
/// Every command takes the store's path first, `--format text|json` and
/// `--encoding auto|utf8|hex|base64`. Data goes to stdout, diagnostics to stderr. Exit status:
/// 0 ok, 1 not found or problems found, 64 usage, 65 data too damaged, 66 no such store or input,
/// 69 unavailable, 73 output exists, 74 I/O error, 75 locked by a writer in another process.
public struct KVTool: ParsableCommand {
    /// The command line interface: its name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "kvtool",
        abstract: "Inspect, verify, repair, export and import a KVStore.",
        discussion: """
            The store's path comes first: kvtool stat /var/lib/app/kv. Data goes to stdout, \
            diagnostics to stderr. Exit status: 0 ok, 1 not found or problems found, 64 usage, \
            65 data too damaged, 66 no such store or input file, 69 unavailable, 73 output exists, \
            74 I/O error, 75 another process has the store open for writing (write commands \
            only). Inspection commands (stat, segments, get, scan, dump, verify, export) open the \
            store read-only: they change no byte of it and take no lock, so they work while an \
            application has the store open for writing, see its writes, and say so (stat: \
            `Access: live (writer pid N)`; verify: a first line; segments, scan, export, dump: a \
            note on stderr). Write commands (put, delete, compact, import, reindex, salvage) exit \
            75 while a writer has it open. Put `--` before a key that starts with `-`.
            """,
        version: "1.0",
        subcommands: [
            StatCommand.self, SegmentsCommand.self, GetCommand.self, PutCommand.self, DeleteCommand.self,
            ScanCommand.self, DumpCommand.self, VerifyCommand.self, CompactCommand.self, ReindexCommand.self,
            SalvageCommand.self, ExportCommand.self, ImportCommand.self, BackupCommand.self,
        ]
    )

    /// Creates the root command (ArgumentParser needs it).
    public init() {}

    /// Parses `arguments` (without the program name), runs the command and returns the exit
    /// status. Output is flushed before it returns.
    public static func run(arguments: [String]) -> Int32 {
        defer { Console.out.flush() }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return ExitStatus.ok
        } catch let error as ToolError {
            if !error.message.isEmpty { Console.diagnostic(error.message) }
            return error.status
        } catch {
            let status = exitCode(for: error).rawValue
            let message = fullMessage(for: error)
            if status == 0 {
                if !message.isEmpty { Console.out.line(message) }
            } else if !message.isEmpty {
                Console.out.flush()
                Console.stderr(message + "\n")
            }
            return status
        }
    }
}
