import Foundation

/// What one run of the `kvtool` binary printed and returned.
struct ToolRun {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String

    var out: String { String(decoding: stdout, as: UTF8.self) }
    /// stdout split into lines, without the last empty one.
    var lines: [String] { out.split(separator: "\n", omittingEmptySubsequences: false).dropLast(out.hasSuffix("\n") ? 1 : 0).map(String.init) }
    /// stdout's lines parsed as JSON objects.
    var jsonLines: [[String: Any]] {
        lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
    /// stdout parsed as one JSON object.
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(stdout)) as? [String: Any]) ?? [:] }
}

/// Runs the `kvtool` built next to this test bundle.
enum KVTool {
    /// The binary: SwiftPM builds every executable of the package along with the tests, into the
    /// products folder that holds the test bundle (found through /proc/self/exe).
    static let path: String = {
        var folders: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        folders.append(Bundle.main.bundleURL)
        for start in folders {
            var folder = start
            for _ in 0..<4 {
                let candidate = folder.appendingPathComponent("kvtool").path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
                folder = folder.deletingLastPathComponent()
            }
        }
        return "kvtool-not-found-next-to-the-test-bundle"
    }()

    /// Runs `kvtool arguments…` with `stdin` (or /dev/null) and waits for it.
    static func run(_ arguments: [String], stdin: [UInt8]? = nil) throws -> ToolRun {
        try run(executable: path, arguments, stdin: stdin)
    }

    /// Whether ``runUnprivileged(_:)`` can run `kvtool` as a user that file permissions apply to:
    /// the tests' own user when it is not root, or `nobody` through `setpriv(1)` when it is.
    static var canRunUnprivileged: Bool {
        geteuid() != 0 || FileManager.default.isExecutableFile(atPath: setpriv)
    }

    /// Runs `kvtool arguments…` as a user that file permissions apply to (root ignores them): as
    /// `nobody` when the tests run as root, else as the tests' user. Files it must read have to be
    /// readable by others then, and the directories on the way to them searchable.
    static func runUnprivileged(_ arguments: [String]) throws -> ToolRun {
        guard geteuid() == 0 else { return try run(arguments) }
        return try run(executable: setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", path] + arguments, stdin: nil)
    }

    private static let setpriv = "/usr/bin/setpriv"

    private static func run(executable: String, _ arguments: [String], stdin: [UInt8]?) throws -> ToolRun {
        let scratch = try TemporaryDirectory()
        let outPath = scratch.path + "/stdout", errPath = scratch.path + "/stderr", inPath = scratch.path + "/stdin"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        _ = FileManager.default.createFile(atPath: inPath, contents: Data(stdin ?? []))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = FileHandle(forWritingAtPath: outPath)!, err = FileHandle(forWritingAtPath: errPath)!
        let input = FileHandle(forReadingAtPath: inPath)!
        defer { try? out.close(); try? err.close(); try? input.close() }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        process.waitUntilExit()
        let stdout = Array(FileManager.default.contents(atPath: outPath) ?? Data())
        let stderr = String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self)
        return ToolRun(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// Starts one `kvtool` per argument list, all before waiting for any, so that they race.
    static func runConcurrently(_ argumentLists: [[String]]) throws -> [ToolRun] {
        let scratch = try TemporaryDirectory()
        var started: [(process: Process, out: String, err: String, handles: [FileHandle])] = []
        for (i, arguments) in argumentLists.enumerated() {
            let outPath = scratch.sub("stdout-\(i)"), errPath = scratch.sub("stderr-\(i)")
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            let out = FileHandle(forWritingAtPath: outPath)!, err = FileHandle(forWritingAtPath: errPath)!
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            started.append((process, outPath, errPath, [out, err]))
        }
        defer { for s in started { for h in s.handles { try? h.close() } } }
        for s in started { try s.process.run() }
        return started.map { s in
            s.process.waitUntilExit()
            return ToolRun(status: s.process.terminationStatus, stdout: Array(FileManager.default.contents(atPath: s.out) ?? Data()),
                           stderr: String(decoding: FileManager.default.contents(atPath: s.err) ?? Data(), as: UTF8.self))
        }
    }

    static func run(_ arguments: String..., stdin: [UInt8]? = nil) throws -> ToolRun {
        try run(arguments, stdin: stdin)
    }
}
