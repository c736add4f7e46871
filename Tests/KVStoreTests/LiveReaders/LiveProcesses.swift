@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A store, its oracle and the `kvstore-crash-child` processes of the live-reader protocol
/// (Tests/CrashChild/LiveProtocol.swift) that write and read it, for the tests that need real
/// processes: writers that are killed, readers of another user, readers that are killed.
struct LiveProcesses {
    /// Logs and stop files.
    let directory: String
    let store: String
    let oracle: String
    let keys: Int
    var rng: SplitMix64
    private var started = 0

    init(directory: String, keys: Int = 1_000, seed: UInt64) throws {
        self.directory = directory
        store = directory + "/store"
        oracle = directory + "/oracle"
        self.keys = keys
        rng = SplitMix64(seed: seed)
        try LiveOracleFile.create(oracle, keys: keys)
    }

    /// Creates the store, empty, and closes it cleanly.
    func createStore() throws {
        var configuration = Store.Configuration()
        configuration.segmentSize = 64 << 10
        try Store(path: store, configuration: configuration).close()
    }

    func stopFile(_ name: String) -> String { directory + "/stop-" + name }

    mutating func name(_ role: String) -> String {
        started += 1
        return "\(role) \(started)"
    }

    /// A writer: until killed, until `stop` exists, or for `ops` operations.
    mutating func writer(ops: Int? = nil, stop: String? = nil, lz4: Bool = false) throws -> LiveChild {
        var arguments = ["--live-writer", store, oracle, String(rng.next()), String(keys)]
        if let ops { arguments += ["--ops", String(ops)] }
        if let stop { arguments += ["--stop", stop] }
        if lz4 { arguments.append("--lz4") }
        return try LiveChild(arguments, name: name("writer"), logDirectory: directory)
    }

    /// A reader: until killed, until `stop` exists, or for `reads` reads; as user `dropTo` when this
    /// process is root (and then with TMPDIR=/tmp, as that user's own environment would have it).
    mutating func reader(stop: String? = nil, reads: Int? = nil, dropTo: Int? = nil) throws -> LiveChild {
        var arguments = ["--live-reader", store, oracle, String(rng.next()), String(keys)]
        if let stop { arguments += ["--stop", stop] }
        if let reads { arguments += ["--reads", String(reads)] }
        var environment: [String: String] = [:]
        if let dropTo, getuid() == 0 {
            arguments += ["--drop-to", String(dropTo)]
            environment["TMPDIR"] = "/tmp"
        }
        return try LiveChild(arguments, name: name("reader"), logDirectory: directory, environment: environment)
    }

    /// Checks every key against the oracle in a child, with no writer running.
    mutating func check(readOnly: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var arguments = ["--live-check", store, oracle, String(keys)]
        if readOnly { arguments.append("--readonly") }
        let child = try LiveChild(arguments, name: name("check"), logDirectory: directory)
        guard child.waitForExit(), child.exitStatus == 0, let line = child.line("C ") else {
            Issue.record("the check failed: \(child)", sourceLocation: sourceLocation)
            return
        }
        #expect(line.int("violations") == 0, "\(line)\n\(child.lines("V ").joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    /// The number of acknowledged versions in the oracle: it grows with every operation.
    func progress() throws -> UInt64 { try LiveOracleFile.progress(oracle) }

    /// Waits until the writers have acknowledged `count` more versions than `from`. Records an
    /// issue and returns false if `writer` ends first, or if there is no progress for minutes (a
    /// writer that is blocked; a hang bound, not a timing check).
    func waitForProgress(_ count: UInt64, from: UInt64, writer: LiveChild, hangAfter limit: Duration = .seconds(180),
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while try progress() < from + count {
            guard writer.isRunning else {
                Issue.record("the writer ended after \(try progress() - from) of \(count) acknowledged versions: \(writer)", sourceLocation: sourceLocation)
                return false
            }
            guard ContinuousClock.now < deadline else {
                Issue.record("the writer acknowledged only \(try progress() - from) of \(count) versions in \(limit): blocked? \(writer)", sourceLocation: sourceLocation)
                return false
            }
            usleep(5_000)
        }
        return true
    }

    /// Waits for a writer started with `ops` or `stop` to finish, and expects it to have closed
    /// the store without error (exit 75: it was kept out with `.locked`).
    @discardableResult
    func expectWriterFinishes(_ writer: LiveChild, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard writer.waitForExit() else {
            Issue.record("\(what): the writer did not finish (blocked?), killed: \(writer)", sourceLocation: sourceLocation)
            return false
        }
        if writer.exitStatus == 75 {
            Issue.record("\(what): the writer was kept out with .locked: \(writer)", sourceLocation: sourceLocation)
            return false
        }
        guard writer.exitStatus == 0, writer.line("W done") != nil else {
            Issue.record("\(what): the writer failed: \(writer)", sourceLocation: sourceLocation)
            return false
        }
        return true
    }

    /// Waits for a reader to stop (asked through its stop file, or after its reads) and expects
    /// it to have found every read right; `fresh`: it must have seen writes made after it opened.
    @discardableResult
    func expectReaderReport(_ reader: LiveChild, fresh: Bool, uid: Int? = nil, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) -> LiveLine? {
        guard reader.waitForExit(), reader.exitStatus == 0, let report = reader.line("R done") else {
            Issue.record("\(what): the reader did not report: \(reader)", sourceLocation: sourceLocation)
            return nil
        }
        let violations = reader.lines("V ")
        #expect(report.int("violations") == 0 && violations.isEmpty,
                "\(what): \(report)\n\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
        #expect(report.int("reads") > 0 && report.int("values") > 0, "\(what): read nothing: \(report)", sourceLocation: sourceLocation)
        #expect(report.fields["close"] == "ok", "\(what): \(report)", sourceLocation: sourceLocation)
        if fresh {
            #expect(report.int("fresh") > 0, "\(what): never saw a write made after it opened: \(report)", sourceLocation: sourceLocation)
        }
        if let uid {
            #expect(reader.line("R ready")?.int("uid") == uid, "\(what): \(reader.line("R ready").map { "\($0)" } ?? "no ready line")",
                    sourceLocation: sourceLocation)
        }
        return report
    }
}
