import ArgumentParser
import KVStore

/// `kvtool verify STORE`: `OK`, or one line per problem and `N errors found`.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every record's checksum, every hint file, and the index against the segments.",
        discussion: """
            Prints OK, or one line per problem (file, offset, what is wrong) and `N errors found` \
            with exit status 1. Problems the store met while opening (a segment it could not read) \
            are included. Exit status 65 when the store cannot be opened at all.
            """,
        aliases: ["check"])

    @Argument(help: "The store directory.")
    var store: String

    @OptionGroup var output: OutputOptions

    /// One problem, as printed.
    private struct Problem: Hashable {
        var path: String
        var offset: Int64?
        var message: String

        var line: String { path + (offset.map { " @\($0)" } ?? "") + ": " + message }
    }

    func run() throws {
        let path = StoreAccess.normalize(store)
        let progress = Progress("verifying")
        let (report, opening) = try StoreAccess.with(path, for: .inspect) { store in
            progress.show()
            defer { progress.finish() }
            return (try store.verify(), store.recoveryReport.problems)
        }
        var problems = report.problems.map { Problem(path: $0.path, offset: $0.offset, message: $0.message) }
        // Problems met while opening, unless verify found the same spot itself.
        let seen = Set(problems.map { "\($0.path)@\($0.offset ?? -1)" })
        for error in opening where !seen.contains("\(error.path ?? path)@\(error.offset ?? -1)") {
            problems.append(Problem(path: error.path ?? path, offset: error.offset, message: error.message))
        }
        if output.json {
            Console.out.line(JSON.object([
                ("ok", .bool(problems.isEmpty)), ("errors", .int(problems.count)),
                ("segments", .int(report.segments)), ("records", .int(report.records)),
                ("hints", .int(report.hints)), ("keys", .int(report.keys)),
                ("problems", .array(problems.map { p in
                    .object([("path", .string(p.path)), ("offset", p.offset.map { .int($0) } ?? .null), ("message", .string(p.message))])
                })),
            ]).text)
        } else if problems.isEmpty {
            Console.out.line("OK")
        } else {
            for p in problems { Console.out.line(p.line) }
            Console.out.line("\(problems.count) error\(problems.count == 1 ? "" : "s") found")
        }
        if !problems.isEmpty { throw ToolError.silent(ExitStatus.negative) }
    }
}
