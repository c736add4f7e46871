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
            are included. Exit status 65 when the store cannot be opened at all. While another \
            process has the store open for writing, it checks what was sealed and durable when it \
            began (those segments, their hint files, and the index where it points into them), says \
            so in a first line (`live (writer pid N): checked the S segments sealed and durable when \
            verify began (…); U left unchecked`), and exits 0 when that part is fine.
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
        let (access, report, opening) = try StoreAccess.with(path, for: .inspect) { store in
            let access = try LiveAccess(store, path: path)
            progress.show()
            defer { progress.finish() }
            return (access, try store.verify(), store.recoveryReport.problems)
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
            ] + access.jsonFields + [
                ("checkedWhileWriting", .bool(report.checkedWhileWriting)), ("uncheckedSegments", .int(report.uncheckedSegments)),
                ("problems", .array(problems.map { p in
                    .object([("path", .string(p.path)), ("offset", p.offset.map { .int($0) } ?? .null), ("message", .string(p.message))])
                })),
            ]).text)
        } else {
            if report.checkedWhileWriting { Console.out.line(whileWriting(report, access)) }
            if problems.isEmpty {
                Console.out.line("OK")
            } else {
                for p in problems { Console.out.line(p.line) }
                Console.out.line("\(problems.count) error\(problems.count == 1 ? "" : "s") found")
            }
        }
        if !problems.isEmpty { throw ToolError.silent(ExitStatus.negative) }
    }

    /// What a check made while a writer had the store open covered:
    /// `live (writer pid N): checked the S segments sealed and durable when verify began (R
    /// records, K keys); U left unchecked`.
    private func whileWriting(_ report: Store.VerificationReport, _ access: LiveAccess) -> String {
        let s = report.segments, u = report.uncheckedSegments
        return (access.hasWriter ? access.summary : "live")
            + ": checked the \(Format.count(s)) segment\(s == 1 ? "" : "s") sealed and durable when verify began"
            + " (\(Format.count(report.records)) records, \(Format.count(report.keys)) keys indexed in them);"
            + " \(Format.count(u)) segment\(u == 1 ? "" : "s") left unchecked (the writer's active segment, those not yet durable,"
            + " and any compacted away meanwhile)"
    }
}
