@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Live readers (issue 9) against a writer that is killed with SIGKILL at random moments, hundreds
/// of times, and restarted each time: real processes, all of them `kvstore-crash-child`
/// (Tests/CrashChild/LiveProtocol.swift). The readers open the store once and stay open across
/// every kill and restart (a third one opens after the tenth kill, while no writer is alive, and
/// stays open to the end); each of their reads is checked against the oracle the writer keeps of
/// its acknowledged versions: a value must be exactly one written for that key, no older than the
/// version acknowledged before the read began, and "absent" must be explained by a removal.
///
/// The store is made to change shape under the readers: 64 KiB segments roll every few hundred
/// operations, automatic compaction (low thresholds) deletes sealed segments, the key set grows
/// during the run (no expectedKeyCount) and removals leave tombstones, so the index file is
/// replaced by a rename again and again. The test asserts that all of that happened.
///
/// Most kills come 0 to 150 ms after the writer has opened (some up to 400 ms), a fifth at any
/// moment from its start (during its open and recovery), and some the moment the writer starts
/// replacing the index. Every eighth writer is not killed but compacts, closes and exits, and a
/// few are stopped cleanly. A violation ends the run at once, with what the reader maps.
@Suite("Crash: kill -9 of a writer under live readers", .serialized)
struct LiveReaderCrashTests {
    static let keys = 2_000
    static let requiredKills = 200
    static let readerCount = 2

    @Test func readersStayCorrectAcrossHundredsOfWriterKills() throws {
        let seed = testSeed()
        try withTemporaryDirectory { directory in
            var run = LiveReaderCrashRun(seed: seed, directory: directory)
            do {
                try run.execute()
            } catch {
                Issue.record("\(error) — \(run.context)")
            }
        }
    }
}

private struct LiveReaderCrashRun {
    let seed: UInt64
    let directory: String
    var rng: SplitMix64
    let storePath: String
    let oraclePath: String
    let stopReaders: String
    var observer: StoreObserver

    var iteration = 0
    /// Kills of a writer that had opened the store (the ones counted)...
    var kills = 0
    /// ...and of writers that had not yet (still opening, or recovering, the store).
    var killsWhileOpening = 0
    var cleanStops = 0
    var writerOpens: [String: Int] = [:]
    var pausesWithoutWriter = 0
    var compactingStops = 0
    var killsAtReplacement = 0
    /// How the reader opened after a kill found the store, and its access ("rebuilt snapshot": a
    /// private index).
    var lateReaderTrust = ""
    var segmentsCompactedByStoppedWriters = 0
    /// Where the time goes, for the summary line.
    var phases: [String: Duration] = [:]

    mutating func timed<R>(_ phase: String, _ body: () throws -> R) rethrows -> R {
        let start = ContinuousClock.now
        defer { phases[phase, default: .zero] += start.duration(to: .now) }
        return try body()
    }

    /// What each iteration did, for the report of a violation.
    var events: [String] = []

    init(seed: UInt64, directory: String) {
        self.seed = seed
        self.directory = directory
        rng = SplitMix64(seed: seed)
        storePath = directory + "/store"
        oraclePath = directory + "/oracle"
        stopReaders = directory + "/stop-readers"
        observer = StoreObserver(directory: storePath)
    }

    var context: String { "seed \(seed) (KVSTORE_TEST_SEED=\(seed)), iteration \(iteration), \(kills) kills, store \(storePath)" }

    struct Stop: Error, CustomStringConvertible {
        var description: String
    }

    mutating func execute() throws {
        let clock = ContinuousClock()
        let started = clock.now
        let keys = LiveReaderCrashTests.keys
        // A store (empty, closed cleanly) and an oracle of zeros: nothing acknowledged yet.
        var configuration = Store.Configuration()
        configuration.segmentSize = 64 << 10
        try Store(path: storePath, configuration: configuration).close()
        try LiveOracleFile.create(oraclePath, keys: keys)
        observer.look()
        let headerAtStart = observer.indexHeader()

        var readers: [LiveChild] = []
        defer { for reader in readers where reader.isRunning { reader.kill9() } }
        for n in 0..<LiveReaderCrashTests.readerCount {
            readers.append(try LiveChild(["--live-reader", storePath, oraclePath, String(rng.next()), String(keys), "--stop", stopReaders],
                                         name: "reader \(n)", logDirectory: directory))
        }
        for reader in readers { try reader.waitForLine("R ready") }

        while kills < LiveReaderCrashTests.requiredKills && iteration < 2 * LiveReaderCrashTests.requiredKills {
            iteration += 1
            // New keys keep arriving (300 at first, all 2,000 near the end), so the index grows
            // during the run and not only at its start.
            let active = min(keys, 300 + iteration * 8)
            let stopWriter = directory + "/stop-writer"
            unlink(stopWriter)
            var arguments = ["--live-writer", storePath, oraclePath, String(rng.next()), String(keys), "--active", String(active)]
            if rng.chance(0.5) { arguments.append("--lz4") }
            // Every eighth writer is not killed: it writes until a compaction has finished, and
            // closes. A compaction deletes its segments only when it ends, and writers killed
            // within a few hundred milliseconds rarely see one end; without these the backlog only
            // grows. Half of the others compact continuously too (the kills then land in
            // compactions), and a few stop cleanly when asked.
            let compactingStop = iteration % 8 == 0
            let cleanStop = !compactingStop && rng.chance(0.03)
            if compactingStop {
                arguments += ["--compact", "--until-compacted"]
            } else if rng.chance(0.5) {
                arguments.append("--compact")
            }
            if cleanStop { arguments += ["--stop", stopWriter] }
            let writer = try LiveChild(arguments, name: "writer", logDirectory: directory)

            // Mostly: once the writer is open, 0 to 150 ms, sometimes up to 400 (many rolls and
            // compactions). A fifth of the kills come at any moment from the start instead, so that
            // some land while the writer is still opening, or recovering, the store.
            let fromStart = rng.chance(0.2)
            if !fromStart { _ = try timed("open") { try writer.waitForLine("W open") } }
            let r = Double.random(in: 0..<1, using: &rng)
            let delay = fromStart ? Int.random(in: 0...300_000, using: &rng)
                : r < 0.92 ? Int.random(in: 0...150_000, using: &rng) : Int.random(in: 150_000...400_000, using: &rng)
            if compactingStop {
                guard timed("compacting writers", { writer.waitForExit() }), writer.exitStatus == 0, let done = writer.line("W done") else {
                    throw Stop(description: "the writer that was to compact and stop failed: \(writer)")
                }
                compactingStops += 1
                segmentsCompactedByStoppedWriters += max(0, done.int("compacted"))
            } else if cleanStop {
                timed("writing") { _ = usleep(UInt32(delay)) }
                _ = FileManager.default.createFile(atPath: stopWriter, contents: nil)
                guard writer.waitForExit() else { throw Stop(description: "the writer did not stop when asked: \(writer)") }
                guard writer.exitStatus == 0, writer.line("W done") != nil else { throw Stop(description: "the writer asked to stop failed: \(writer)") }
                cleanStops += 1
            } else if !fromStart && rng.chance(0.25) {
                // The kill lands the moment the writer starts replacing the index (the old file
                // marked, or a new one renamed in), if it does within the delay: the replacement's
                // crash points are where a reader can be left behind.
                let path = storePath
                let atReplacement = timed("writing") { Self.killAtIndexReplacement(writer, within: .microseconds(delay + 200_000), storePath: path) }
                if atReplacement { killsAtReplacement += 1 }
                timed("kill") { writer.kill9() }
                guard writer.diedOfSIGKILL else { throw Stop(description: "the writer ended by itself before the kill: \(writer)") }
            } else {
                timed("writing") { _ = usleep(UInt32(delay)) }
                timed("kill") { writer.kill9() }
                guard writer.diedOfSIGKILL else { throw Stop(description: "the writer ended by itself before the kill: \(writer)") }
            }
            if let open = writer.line("W open") {
                writerOpens[String(open.text.dropFirst("W open ".count)), default: 0] += 1
                if !cleanStop && !compactingStop { kills += 1 }
            } else {
                killsWhileOpening += 1
            }
            observer.look()
            let header = observer.indexHeader()
            events.append("iteration \(iteration): writer pid \(writer.pid) \(compactingStop ? "compacted and stopped" : cleanStop ? "stopped" : "killed") (\(killsAtReplacement) at a replacement so far) after \(delay) µs\(fromStart ? " from its start" : " from its open"), "
                          + "\(writer.line("W open").map { "\($0)" } ?? "not yet open"), index inode \(observer.indexInode ?? 0) "
                          + "generation \(header?.generation ?? 0) capacity \(header?.capacity ?? 0)")
            for reader in readers where !reader.isRunning {
                throw Stop(description: "a reader ended during the run: \(reader)")
            }
            // One more reader opens right after the tenth kill, with no writer alive and the index
            // left open: it starts from a private index and must move over to the store's when
            // the next writer opens.
            if kills == 10 && readers.count == LiveReaderCrashTests.readerCount && !cleanStop && !compactingStop {
                let late = try LiveChild(["--live-reader", storePath, oraclePath, String(rng.next()), String(keys), "--stop", stopReaders],
                                         name: "reader \(readers.count) (opened after a kill)", logDirectory: directory)
                readers.append(late)
                let ready = try late.waitForLine("R ready")
                lateReaderTrust = "\(ready.fields["trust"] ?? "?") \(ready.fields["access"] ?? "?")"
            }
            // A violation stops the run at once, while the reader can still be looked at.
            for reader in readers where !reader.lines("V ").isEmpty {
                throw Stop(description: "\(reader.name) found wrong reads:\n\(reader.lines("V ").joined(separator: "\n"))\n"
                           + "what it maps: \(Self.mappedIndexes(reader.pid))\nthe store's index: \(Self.describeIndex(storePath + "/index"))\n"
                           + "the last iterations:\n\(events.suffix(12).joined(separator: "\n"))")
            }
            // Now and then the readers are left alone for a while, with no writer alive.
            if rng.chance(0.05) {
                pausesWithoutWriter += 1
                usleep(UInt32.random(in: 5_000...40_000, using: &rng))
            }
        }

        // The readers stop and report.
        _ = FileManager.default.createFile(atPath: stopReaders, contents: nil)
        var reports: [LiveLine] = []
        for reader in readers {
            guard reader.waitForExit(), reader.exitStatus == 0, let report = reader.line("R done") else {
                throw Stop(description: "a reader did not report: \(reader)")
            }
            reports.append(report)
            let violations = reader.lines("V ")
            #expect(report.int("violations") == 0 && violations.isEmpty,
                    "\(reader.name) found \(report.int("violations")) wrong reads: \(report)\n\(violations.joined(separator: "\n")) — \(context)")
            #expect(report.int("reads") > 0 && report.int("values") > 0, "\(reader.name) read nothing: \(report) — \(context)")
            #expect(report.int("fresh") > 0, "\(reader.name) never saw a write made after it opened: \(report) — \(context)")
            #expect(report.fields["close"] == "ok", "\(reader.name) failed to close: \(report) — \(context)")
        }

        // After the last kill: a writable open recovers the store, and every key holds its last
        // acknowledged version (or the one in flight at the kill).
        let check = try LiveChild(["--live-check", storePath, oraclePath, String(keys)], name: "check", logDirectory: directory)
        guard check.waitForExit(), check.exitStatus == 0, let final = check.line("C ") else {
            throw Stop(description: "the final check failed: \(check)")
        }
        #expect(final.int("violations") == 0, "the store after the last kill: \(final)\n\(check.lines("V ").joined(separator: "\n")) — \(context)")
        observer.look()
        let headerAtEnd = observer.indexHeader()

        // The store changed shape under the readers.
        let generations = (headerAtEnd?.generation ?? 0) - (headerAtStart?.generation ?? 0)
        #expect(kills >= LiveReaderCrashTests.requiredKills)
        #expect(observer.newestSegment >= 50, "only \(observer.newestSegment) segments were created — \(context)")
        #expect(observer.segmentsDeleted.count >= 10, "compaction deleted only \(observer.segmentsDeleted.count) segments — \(context)")
        #expect(observer.indexReplacements >= 2 && generations >= 2,
                "the index file was replaced \(observer.indexReplacements) times (generation +\(generations)) — \(context)")
        #expect((headerAtEnd?.capacity ?? 0) > (headerAtStart?.capacity ?? 0), "the index did not grow — \(context)")
        #expect((writerOpens["replayed"] ?? 0) > 0, "no writer replayed the index after a kill: \(writerOpens) — \(context)")
        // It started from a private index (a snapshot) and moved over to the store's.
        #expect(lateReaderTrust == "rebuilt snapshot", "the reader opened after a kill found the store \(lateReaderTrust) — \(context)")
        // Where it is at the end depends on the last kill (one in the middle of a batch, with no
        // writer after it, leaves every reader on a private index, rightly): it must have read
        // from the store's index at some point.
        #expect((reports.last?.int("liveLooks") ?? 0) > 0, "the reader opened after a kill: \(reports.last.map { "\($0)" } ?? "") — \(context)")

        let reads = reports.map { $0.int("reads") }.reduce(0, +)
        let values = reports.map { $0.int("values") }.reduce(0, +)
        let absent = reports.map { $0.int("absent") }.reduce(0, +)
        let contains = reports.map { $0.int("contains") }.reduce(0, +)
        let fresh = reports.map { $0.int("fresh") }.reduce(0, +)
        print("live readers under kill -9: \(kills) kills of an open writer (and \(killsWhileOpening) before it had opened), \(cleanStops) clean stops, \(killsAtReplacement) kills the moment the index was being replaced, \(compactingStops) writers that compacted and stopped (\(segmentsCompactedByStoppedWriters) segments), "
              + "\(pausesWithoutWriter) pauses without a writer; writer opens \(writerOpens.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); "
              + "\(reports.count) readers (the last opened after a kill: \(lateReaderTrust), at the end \(reports.last?.fields["access"] ?? "?")): \(reads) reads checked (\(values) values byte for byte, \(absent) absent, \(contains) containsKey; "
              + "\(fresh) values newer than at the reader's open), violations \(reports.map { $0.int("violations") }); "
              + "\(observer.newestSegment) segments created, \(observer.segmentsDeleted.count) deleted by compaction, "
              + "index replaced \(observer.indexReplacements) times seen (generation +\(generations), capacity \(headerAtStart?.capacity ?? 0) -> \(headerAtEnd?.capacity ?? 0)); "
              + "final check: \(final.text.dropFirst(2)); seed \(seed); \(started.duration(to: clock.now)) ("
              + phases.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")")
    }

    /// Watches the store's index file, and kills `writer` the moment it is marked replaced or
    /// another file is renamed over it; true if that happened within `limit`.
    static func killAtIndexReplacement(_ writer: LiveChild, within limit: Duration, storePath: String) -> Bool {
        let path = storePath + "/" + FileNames.index
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let inode = StoreObserver.inode(path)
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline && writer.isRunning {
            var mark: UInt64 = 0
            let n = pread(fd, &mark, 8, off_t(IndexHeader.replaced))
            if (n == 8 && mark != 0) || StoreObserver.inode(path) != inode {
                kill(writer.pid, SIGKILL)
                return true
            }
            sched_yield()
        }
        return false
    }

    /// The index files (the store's, deleted ones, private ones) mapped by process `pid`, with
    /// their header words: which index a reader that went wrong was reading.
    static func mappedIndexes(_ pid: Int32) -> String {
        // Read to the end: a /proc file has no size to go by.
        let fd = open("/proc/\(pid)/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "(no maps: errno \(errno))" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        let maps = String(decoding: bytes, as: UTF8.self)
        var seen = Set<String>()
        var out: [String] = []
        for line in maps.split(separator: "\n") where line.contains("/index") || line.contains("kvstore-reader") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let range = fields.first, seen.insert(String(fields.dropFirst(5).joined(separator: " "))).inserted else { continue }
            out.append("\(fields.dropFirst(5).joined(separator: " ")): \(describeIndex("/proc/\(pid)/map_files/\(range)"))")
        }
        return out.isEmpty ? "(no index mapped)" : "\n  " + out.joined(separator: "\n  ")
    }

    static func describeIndex(_ path: String) -> String {
        guard let bytes = try? FileSurgery.read(path), bytes.count >= 4096 else { return "(unreadable)" }
        func word(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        return "generation \(word(IndexHeader.generation)) capacity \(word(IndexHeader.capacity)) state \(word(IndexHeader.state) & 0xFFFF_FFFF) "
            + "replaced \(word(IndexHeader.replaced)) writer \(String(word(IndexHeader.writer), radix: 16)) covered \(LogPosition(word: word(IndexHeader.covered)))"
    }
}
