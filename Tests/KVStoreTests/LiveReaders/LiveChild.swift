@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `kvstore-crash-child` process in one of its live-reader modes (`--live-writer`, `--live-reader`,
/// `--live-check`; Tests/CrashChild/LiveProtocol.swift), with its stdout and stderr in files so that
/// a kill loses nothing and no pipe can fill up.
final class LiveChild: CustomStringConvertible {
    let name: String
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    /// Starts the child. Its output files go to `logDirectory`, which must be writable by this
    /// process only (the descriptors are inherited, so a child that gives up root still writes them).
    init(_ arguments: [String], name: String, logDirectory: String, environment: [String: String] = [:]) throws {
        let executable = try #require(CrashChildProcess.locate(),
                                      "kvstore-crash-child was not found next to the test binary; build it with `swift build --build-tests` or set KVSTORE_CRASH_CHILD")
        self.name = name
        let tag = name.map { $0.isLetter || $0.isNumber ? $0 : "-" }
        stdoutPath = logDirectory + "/\(String(tag)).out"
        stderrPath = logDirectory + "/\(String(tag)).err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let stdoutHandle = try #require(FileHandle(forWritingAtPath: stdoutPath))
        let stderrHandle = try #require(FileHandle(forWritingAtPath: stderrPath))
        defer {
            try? stdoutHandle.close()
            try? stderrHandle.close()
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var output: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The first line of stdout that starts with `prefix`.
    func line(_ prefix: String) -> LiveLine? {
        output.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { LiveLine(String($0)) }
    }

    /// The lines of stdout that start with `prefix`.
    func lines(_ prefix: String) -> [String] {
        output.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map(String.init)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Waits until stdout holds a line starting with `prefix`. Throws if the child ends first, or if
    /// nothing comes for a long while (a hang, reported instead of waited on forever; not a timing
    /// check: the bound is minutes).
    @discardableResult
    func waitForLine(_ prefix: String, hangAfter limit: Duration = .seconds(180)) throws -> LiveLine {
        let deadline = ContinuousClock.now + limit
        while true {
            if let line = line(prefix) { return line }
            if !isRunning {
                if let line = line(prefix) { return line }
                throw Failure(description: "\(self) ended before printing \"\(prefix)\"")
            }
            if ContinuousClock.now > deadline { throw Failure(description: "\(self) printed no \"\(prefix)\" in \(limit) (hung?)") }
            usleep(2_000)
        }
    }

    /// Waits for the child to end by itself; false if it is still running after `limit` (a hang:
    /// the child is then killed, so that the test ends).
    func waitForExit(hangAfter limit: Duration = .seconds(180)) -> Bool {
        let deadline = ContinuousClock.now + limit
        while isRunning {
            if ContinuousClock.now > deadline {
                kill9()
                return false
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        return true
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        // Foundation reaps the child on its own thread; polling that is much quicker than
        // waitUntilExit's run loop, which costs tens of milliseconds per kill here.
        while isRunning { usleep(500) }
        process.waitUntilExit()
    }

    var diedOfSIGKILL: Bool { !isRunning && process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL }
    /// The exit status, if the child exited (rather than died of a signal).
    var exitStatus: Int32? { !isRunning && process.terminationReason == .exit ? process.terminationStatus : nil }

    var description: String {
        var text = "\(name) (pid \(pid))"
        if !isRunning {
            text += process.terminationReason == .exit ? ", exit status \(process.terminationStatus)" : ", signal \(process.terminationStatus)"
        }
        let out = output.split(separator: "\n").suffix(25).joined(separator: "\n")
        let err = errors
        if !out.isEmpty { text += "\n  stdout:\n" + out }
        if !err.isEmpty { text += "\n  stderr:\n" + err }
        return text
    }
}

/// A status line of a child: a tag and `name=value` fields ("R done reads=12 violations=0 ...").
struct LiveLine: CustomStringConvertible {
    let text: String
    let fields: [String: String]

    init(_ text: String) {
        self.text = text
        var fields: [String: String] = [:]
        for word in text.split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
        }
        self.fields = fields
    }

    /// A numeric field; -1 if missing (so that `> 0` and `== 0` expectations fail on it).
    func int(_ name: String) -> Int { fields[name].flatMap { Int($0) } ?? -1 }

    var description: String { text }
}

/// The oracle of the live-reader protocol, read from this process: the acknowledged version of
/// each key (one little-endian UInt64 per key).
enum LiveOracleFile {
    static func create(_ path: String, keys: Int) throws {
        try FileSurgery.write([UInt8](repeating: 0, count: keys * 8), to: path)
    }

    static func versions(_ path: String) throws -> [UInt64] {
        let bytes = try FileSurgery.read(path)
        return stride(from: 0, to: bytes.count - 7, by: 8).map { at in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
        }
    }

    /// The number of acknowledged key versions: it grows by 1 to 3 with each operation.
    static func progress(_ path: String) throws -> UInt64 {
        try versions(path).reduce(0, +)
    }

    static func set(_ path: String, key: Int, version: UInt64) throws {
        try FileSurgery.overwrite(path, at: key * 8, with: (0..<8).map { UInt8(truncatingIfNeeded: version >> (8 * $0)) })
    }
}

/// What happened to a store directory, as seen from outside by looking at it now and then:
/// segments that appeared and were later deleted (compaction), and index files replaced by a
/// rename (growth, rebuild).
struct StoreObserver {
    let directory: String
    private(set) var segmentsSeen = Set<String>()
    private(set) var segmentsDeleted = Set<String>()
    private(set) var indexInode: UInt64?
    private(set) var indexReplacements = 0

    init(directory: String) {
        self.directory = directory
    }

    mutating func look() {
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        let segments = names.filter { $0.hasSuffix(FileNames.segmentSuffix) }
        segmentsDeleted.formUnion(segmentsSeen.subtracting(segments))
        segmentsSeen.formUnion(segments)
        if let inode = Self.inode(directory + "/" + FileNames.index) {
            if let indexInode, indexInode != inode { indexReplacements += 1 }
            indexInode = inode
        }
    }

    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// The index header's generation (+1 on every growth or rebuild) and capacity.
    func indexHeader() -> (generation: UInt64, capacity: UInt64)? {
        guard let bytes = try? FileSurgery.read(directory + "/" + FileNames.index), bytes.count >= IndexHeader.pageSize else { return nil }
        func word(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        return (word(IndexHeader.generation), word(IndexHeader.capacity))
    }

    /// The highest segment number seen: how many segments the store has created.
    var newestSegment: Int {
        segmentsSeen.compactMap { Int($0.prefix(while: { $0 != "." })) }.max() ?? 0
    }
}
