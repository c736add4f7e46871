@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Kills a real writer process (`kvstore-crash-child`, Tests/CrashChild) with SIGKILL at random
/// moments, hundreds of times, and after each kill reopens the store and checks it against the
/// oracle the child wrote around every operation: every write that returned is there, the one
/// operation in flight is either wholly there or wholly absent (batches included), and nothing
/// else is. The next child continues on the same store, so recovery runs on a store that has been
/// crashed over and over.
@Suite("Crash: kill -9")
struct KillNineCrashTests {
    @Test func killedWriterLosesNoAcknowledgedWrite() throws {
        let child = try #require(CrashChildProcess.locate(),
                                 "kvstore-crash-child was not found next to the test binary; build it with `swift build --build-tests` or set KVSTORE_CRASH_CHILD")
        let seed = testSeed()
        try withTemporaryDirectory { directory in
            let run = KillNineRun(child: child, seed: seed, directory: directory)
            do {
                try run.execute()
            } catch is KillNineRun.Stop {
                return  // recorded as an issue already
            } catch {
                Issue.record("\(error) — \(run.context)")
                return
            }
            #expect(run.writingKills >= KillNineRun.requiredKills, "only \(run.writingKills) kills hit a writing child — \(run.context)")
            #expect(run.replayedOpens > 0, "no reopen after a kill replayed the index — \(run.context)")
            #expect(run.rebuiltOpens > 0, "no reopen with another boot id rebuilt the index — \(run.context)")
            #expect(run.compactingChildren >= KillNineRun.requiredCompactingKills, "only \(run.compactingChildren) kills hit a compacting child — \(run.context)")
            #expect(run.killsWithDictionaries > 0, "no kill hit a store with a trained dictionary — \(run.context)")
        }
    }
}

/// Where the child executable is.
enum CrashChildProcess {
    static let name = "kvstore-crash-child"

    /// `KVSTORE_CRASH_CHILD`, or `kvstore-crash-child` in the build products folder: the folder of
    /// the running test binary or one of its parents (on macOS the binary sits inside an .xctest bundle).
    static func locate() -> String? {
        if let path = ProcessInfo.processInfo.environment["KVSTORE_CRASH_CHILD"] { return path }
        var folders: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let exe = Bundle.main.executableURL { folders.append(exe.deletingLastPathComponent()) }
        folders.append(Bundle.main.bundleURL)
        for start in folders {
            var folder = start
            for _ in 0..<4 {
                let candidate = folder.appendingPathComponent(name).path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
                folder = folder.deletingLastPathComponent()
            }
        }
        return nil
    }
}

/// What a read of a key returned, compared by length and FNV-1a hash with what the oracle says was
/// written (the child logs both for every value it writes).
private struct Fingerprint: Equatable, CustomStringConvertible {
    let length: Int
    let hash: UInt64

    init(length: Int, hash: UInt64) {
        self.length = length
        self.hash = hash
    }

    init(_ bytes: [UInt8]) {
        self.init(length: bytes.count, hash: fnv1a64(bytes))
    }

    var description: String { "\(length) bytes/\(String(hash, radix: 16))" }
}

/// One operation from the oracle.
private enum OracleOperation {
    case put(key: [UInt8], value: Fingerprint)
    case remove(key: [UInt8])
    case batch([(key: [UInt8], value: Fingerprint?)])
    case sync

    /// The key changes it makes, in order.
    var changes: [(key: [UInt8], value: Fingerprint?)] {
        switch self {
        case .put(let key, let value): [(key, value)]
        case .remove(let key): [(key, nil)]
        case .batch(let members): members
        case .sync: []
        }
    }

    var summary: String {
        switch self {
        case .put(let key, let value): "put of \(value) to \(describeKey(key))"
        case .remove(let key): "removal of \(describeKey(key))"
        case .batch(let members): "batch of \(members.count) (\(members.filter { $0.value == nil }.count) removals)"
        case .sync: "sync"
        }
    }
}

private func describeKey(_ key: [UInt8]) -> String {
    let text = key.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? String(decoding: key.prefix(24), as: UTF8.self) : key.prefix(12).map { String($0, radix: 16) }.joined(separator: " ")
    return "key '\(text)\(key.count > 24 ? "…" : "")' (\(key.count) bytes)"
}

/// What one child run left in its oracle file.
private struct Oracle {
    struct Completed {
        let n: Int
        let operation: OracleOperation
        /// For removals: whether the store said the key existed.
        let existed: Bool?
    }

    var started = false
    var childTrust = ""
    var completed: [Completed] = []
    /// The operation that had begun but not returned when the child died.
    var inFlight: (n: Int, operation: OracleOperation)?

    struct Malformed: Error, CustomStringConvertible {
        let line: String
        var description: String { "malformed oracle line: \(line.prefix(200))" }
    }

    /// Parses the oracle. A last line without its newline was cut by the kill: the child wrote it
    /// before starting its operation, so it is dropped like the operation it announced.
    static func parse(_ bytes: [UInt8]) throws -> Oracle {
        var oracle = Oracle()
        var keys: [Int: [UInt8]] = [:]
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        lines.removeLast()  // the bytes after the last newline: empty, or a torn line
        for line in lines {
            let fields = line.split(separator: UInt8(ascii: " "))
            func malformed() -> Malformed { Malformed(line: String(decoding: line, as: UTF8.self)) }
            func number(_ i: Int) throws -> Int {
                guard i < fields.count, let n = decimal(fields[i]) else { throw malformed() }
                return n
            }
            func key(_ i: Int) throws -> [UInt8] {
                guard let key = keys[try number(i)] else { throw malformed() }
                return key
            }
            func value(_ i: Int) throws -> Fingerprint {
                guard i + 1 < fields.count, let hash = hexadecimal(fields[i + 1]) else { throw malformed() }
                return Fingerprint(length: try number(i), hash: hash)
            }
            func tag(_ i: Int) -> UInt8? { i < fields.count && fields[i].count == 1 ? fields[i].first : nil }
            switch tag(0) {
            case UInt8(ascii: "S"):
                guard fields.count == 3 else { throw malformed() }
                oracle.started = true
                oracle.childTrust = String(decoding: fields[2], as: UTF8.self)
            case UInt8(ascii: "K"):
                guard fields.count == 3, let bytes = decodeHex(fields[2]) else { throw malformed() }
                keys[try number(1)] = bytes
            case UInt8(ascii: "B"):
                guard oracle.inFlight == nil else { throw malformed() }
                let n = try number(1)
                let operation: OracleOperation
                switch tag(2) {
                case UInt8(ascii: "P") where fields.count == 6: operation = .put(key: try key(3), value: try value(4))
                case UInt8(ascii: "R") where fields.count == 4: operation = .remove(key: try key(3))
                case UInt8(ascii: "Y") where fields.count == 3: operation = .sync
                case UInt8(ascii: "W"):
                    let count = try number(3)
                    var members: [(key: [UInt8], value: Fingerprint?)] = []
                    var i = 4
                    while i < fields.count {
                        switch tag(i) {
                        case UInt8(ascii: "P"):
                            members.append((try key(i + 1), try value(i + 2)))
                            i += 4
                        case UInt8(ascii: "R"):
                            members.append((try key(i + 1), nil))
                            i += 2
                        default:
                            throw malformed()
                        }
                    }
                    guard members.count == count, i == fields.count else { throw malformed() }
                    operation = .batch(members)
                default:
                    throw malformed()
                }
                oracle.inFlight = (n, operation)
            case UInt8(ascii: "D"):
                let n = try number(1)
                guard fields.count == 2 || fields.count == 3, let begun = oracle.inFlight, begun.n == n else { throw malformed() }
                oracle.completed.append(Completed(n: n, operation: begun.operation, existed: fields.count == 3 ? tag(2) == UInt8(ascii: "1") : nil))
                oracle.inFlight = nil
            default:
                throw malformed()
            }
        }
        return oracle
    }

    static func decimal(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value = 0
        for c in digits {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
        }
        return value
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    static func hexadecimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for c in digits {
            guard let v = nibble(c) else { return nil }
            value = value << 4 | UInt64(v)
        }
        return value
    }

    static func decodeHex(_ digits: ArraySlice<UInt8>) -> [UInt8]? {
        guard digits.count % 2 == 0, !digits.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = digits.startIndex
        while i < digits.endIndex {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

private final class KillNineRun {
    struct Stop: Error {}

    static let requiredKills = 200
    /// Kills of children that were compacting continuously beside their writes.
    static let requiredCompactingKills = 100
    /// A store whose files pass this size is set aside for a fresh one, so that the full scans stay
    /// fast and the segment count stays far below descriptor limits.
    static let storeSizeLimit: Int64 = 40 << 20

    let child: String
    let seed: UInt64
    let directory: String
    var rng: SplitMix64

    var storePath = ""
    var storeNumber = 0
    var keyCount = 0
    /// The exact contents the store must have: its live keys and their values...
    var live: [[UInt8]: Fingerprint] = [:]
    /// ...and every key ever written to it (the ones not live must be absent).
    var written = Set<[UInt8]>()

    /// How the next child must find the store: new, or as the test left it.
    var expectedChildTrust = "new"

    var iteration = 0
    var killsOnThisStore = 0
    var mostKillsOnOneStore = 0
    var writingKills = 0
    var replayedOpens = 0
    var rebuiltOpens = 0
    var acknowledgedOperations = 0
    /// Children killed while compacting continuously on a second thread.
    var compactingChildren = 0
    /// Kills after which the store held a trained compression dictionary (children of odd seeds
    /// use `.lz4`, and a third of their values share words a dictionary captures).
    var killsWithDictionaries = 0
    var inFlightApplied = 0
    var inFlightAbsent = 0
    /// Where the time goes, for the summary line.
    var phases: [String: Duration] = [:]

    func timed<R>(_ phase: String, _ body: () throws -> R) rethrows -> R {
        let start = ContinuousClock.now
        defer { phases[phase, default: .zero] += start.duration(to: .now) }
        return try body()
    }

    var context: String {
        "seed \(seed) (KVSTORE_TEST_SEED=\(seed)), kill \(iteration), store #\(storeNumber) after \(killsOnThisStore) kills (\(keyCount) keys), store \(storePath)"
    }

    init(child: String, seed: UInt64, directory: String) {
        self.child = child
        self.seed = seed
        self.directory = directory
        rng = SplitMix64(seed: seed)
    }

    func check(_ condition: Bool, _ message: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard !condition else { return }
        Issue.record("\(message()) — \(context)", sourceLocation: sourceLocation)
        throw Stop()
    }

    func startNewStore() {
        storeNumber += 1
        storePath = directory + "/store-\(storeNumber)"
        keyCount = [150, 1_000, 4_000][Int.random(in: 0..<3, using: &rng)]
        live = [:]
        written = []
        killsOnThisStore = 0
        expectedChildTrust = "new"
    }

    func execute() throws {
        startNewStore()
        while (writingKills < Self.requiredKills || compactingChildren < Self.requiredCompactingKills) && iteration < Self.requiredKills * 2 {
            iteration += 1
            if try timed("size", storeSize) > Self.storeSizeLimit {
                releaseSharedMemory()
                try? FileManager.default.removeItem(atPath: storePath)
                startNewStore()
            }
            let oracle = try killChildAtRandomMoment()
            if oracle.started && !oracle.completed.isEmpty { writingKills += 1 }
            killsOnThisStore += 1
            mostKillsOnOneStore = max(mostKillsOnOneStore, killsOnThisStore)
            try timed("verify") { try verify(oracle) }
        }
        releaseSharedMemory()
        print("kill -9 test: \(iteration) kills (\(writingKills) while writing) on \(storeNumber) stores (up to \(mostKillsOnOneStore) on one), \(acknowledgedOperations) acknowledged operations checked, \(compactingChildren) of the children compacting, \(killsWithDictionaries) on a store with a dictionary, in-flight operation found applied \(inFlightApplied) times and absent \(inFlightAbsent) times, \(replayedOpens) replayed and \(rebuiltOpens) rebuilt opens; seed \(seed); time: "
              + phases.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }

    /// A store handed over "as by a crash" may hold its index in shared memory (half the children
    /// keep it there): opened and closed cleanly before its directory is removed, as a user
    /// removing a store should, so that nothing is left in /dev/shm. Then checks that nothing is.
    func releaseSharedMemory() {
        if let store = try? Store(path: storePath) { try? store.close() }
        guard let identity = Sys.identity(ofPath: storePath) else { return }
        let tag = "-" + String(identity.device, radix: 16) + "-" + String(identity.inode, radix: 16) + "-"
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.hasPrefix("kvstore-") && $0.contains(tag) }
        #expect(left.isEmpty, "a store closed cleanly left its index in shared memory: \(left)")
    }

    func storeSize() throws -> Int64 {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: storePath) else { return 0 }
        var total: Int64 = 0
        for name in names {
            let attributes = try FileManager.default.attributesOfItem(atPath: storePath + "/" + name)
            total += (attributes[.size] as? NSNumber)?.int64Value ?? 0
        }
        return total
    }

    /// Starts a child on the store, lets it write for a random while, kills it with SIGKILL and
    /// returns what its oracle says.
    func killChildAtRandomMoment() throws -> Oracle {
        let oraclePath = directory + "/oracle-\(iteration)"
        let stderrPath = directory + "/child-stderr"
        _ = FileManager.default.createFile(atPath: oraclePath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: child)
        let childSeed = rng.next()
        // Bit 2 of the seed makes the child compact continuously beside its writes.
        if (childSeed >> 2) & 1 == 1 { compactingChildren += 1 }
        process.arguments = [storePath, oraclePath, String(childSeed), String(keyCount)]
        process.standardOutput = FileHandle.nullDevice
        let stderrHandle = try #require(FileHandle(forWritingAtPath: stderrPath))
        process.standardError = stderrHandle
        try timed("spawn") { try process.run() }
        try? stderrHandle.close()

        // Mostly 5 to 150 ms; sometimes much longer (segments roll, the index grows), sometimes
        // almost at once (the child may still be opening, or recovering, the store).
        let r = Double.random(in: 0..<1, using: &rng)
        let delay = r < 0.08 ? Int.random(in: 0...5_000, using: &rng)
            : r < 0.88 ? Int.random(in: 5_000...150_000, using: &rng) : Int.random(in: 150_000...600_000, using: &rng)
        timed("sleep") { _ = usleep(UInt32(delay)) }
        kill(process.processIdentifier, SIGKILL)
        timed("reap") { process.waitUntilExit() }

        let childErrors = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        try check(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL,
                  "the child ended by itself before the kill (status \(process.terminationStatus)): \(childErrors)")
        let bytes = try #require(FileManager.default.contents(atPath: oraclePath))
        defer { try? FileManager.default.removeItem(atPath: oraclePath) }
        do {
            return try timed("parse") { try Oracle.parse(Array(bytes)) }
        } catch {
            try check(false, "\(error)")
            throw Stop()
        }
    }

    /// Reopens the store after a kill and compares it with the model plus the oracle.
    func verify(_ oracle: Oracle) throws {
        if (try? FileManager.default.contentsOfDirectory(atPath: storePath))?.contains(where: { $0.hasSuffix(FileNames.dictionarySuffix) }) == true {
            killsWithDictionaries += 1
        }
        // Sometimes pretend the machine rebooted in between: the index then cannot be trusted and
        // is rebuilt from the segments, which must give the same contents.
        let reboot = rng.chance(0.08)
        var configuration = Store.Configuration()
        configuration.segmentSize = 256 << 10
        if reboot { configuration.bootID = rng.bytes(16) }
        let store = try timed("reopen") { try Store(path: storePath, configuration: configuration) }
        let trust = store.recoveryReport.indexTrust
        if oracle.started {
            // How the child found the store the test handed over.
            try check(oracle.childTrust == expectedChildTrust,
                      "the child opened the store with indexTrust \(oracle.childTrust), expected \(expectedChildTrust)")
            // The child had opened the store, so its index was left open by a process of this boot.
            try check(trust == (reboot ? .rebuilt : .replayed),
                      "reopening after the kill should have \(reboot ? "rebuilt" : "replayed") the index, but it was \(trust)")
        }
        if trust == .replayed { replayedOpens += 1 }
        if trust == .rebuilt { rebuiltOpens += 1 }
        try check(store.recoveryReport.problems.isEmpty, "recovery after a kill reported problems: \(store.recoveryReport.problems)")

        // Every operation that returned, in order. A removal's answer must match the model.
        for done in oracle.completed {
            if case .remove(let key) = done.operation, let existed = done.existed {
                try check(existed == (live[key] != nil),
                          "removeValue (operation \(done.n)) returned \(existed) for \(describeKey(key)), which was \(live[key] != nil ? "present" : "absent")")
            }
            for change in done.operation.changes {
                written.insert(change.key)
                live[change.key] = change.value
            }
            acknowledgedOperations += 1
        }

        // What the store holds for every key ever written to it, and for the in-flight operation's keys.
        let inFlightChanges = oracle.inFlight?.operation.changes ?? []
        var inFlightKeys: [[UInt8]] = []
        for change in inFlightChanges where !inFlightKeys.contains(change.key) { inFlightKeys.append(change.key) }
        var observed: [[UInt8]: Fingerprint] = [:]
        for key in written.union(inFlightKeys) {
            let value = try store.value(forKey: key)
            observed[key] = value.map(Fingerprint.init)
            try check(try store.containsKey(key) == (value != nil), "containsKey disagrees with value(forKey:) for \(describeKey(key))")
        }

        // Keys the in-flight operation does not touch hold exactly their last acknowledged value.
        let touched = Set(inFlightKeys)
        for key in written where !touched.contains(key) {
            let expected = live[key], got = observed[key]
            try check(got == expected, "\(describeKey(key)) holds \(show(got)), but its last acknowledged write left \(show(expected))\(traceValue(store, key))")
        }

        // The in-flight operation happened wholly or not at all.
        if let inFlight = oracle.inFlight {
            var after: [[UInt8]: Fingerprint] = [:]
            for key in inFlightKeys { after[key] = live[key] }
            for change in inFlightChanges { after[change.key] = change.value }
            let asBefore = inFlightKeys.allSatisfy { observed[$0] == live[$0] }
            let asAfter = inFlightKeys.allSatisfy { observed[$0] == after[$0] }
            if !asBefore && !asAfter {
                let lines = inFlightKeys.map { key in
                    "\(describeKey(key)): before \(show(live[key])), after \(show(after[key])), found \(show(observed[key]))\(traceValue(store, key))"
                }
                try check(false, "the operation in flight at the kill (\(inFlight.n): \(inFlight.operation.summary)) is neither wholly applied nor wholly absent:\n"
                          + lines.joined(separator: "\n"))
            }
            if asAfter && !asBefore {
                inFlightApplied += 1
                for key in inFlightKeys { live[key] = after[key] }
            } else {
                inFlightAbsent += 1
            }
            written.formUnion(inFlightKeys)
        }

        // The cursors read every segment, so they are checked after every third kill, and always
        // after a rebuild.
        if reboot || iteration % 3 == 0 { try checkCursors(store, keysToo: iteration % 6 == 0) }
        let statistics = try store.statistics
        try check(statistics.keys == live.count, "statistics.keys is \(statistics.keys); \(live.count) keys are live")

        // Hand the store to the next child: mostly closed cleanly, sometimes abandoned as by a crash
        // (the child then recovers it itself).
        try timed("close") {
            if rng.chance(0.3) {
                store.simulateCrash()
                expectedChildTrust = reboot ? "rebuilt" : "replayed"  // the child runs in the real boot
            } else {
                try store.close()
                expectedChildTrust = "clean"
            }
        }
    }

    /// The cursors agree with the reads: every live key exactly once, with its value, nothing else.
    func checkCursors(_ store: Store, keysToo: Bool) throws {
        try timed("cursors") {
            var seen = Set<[UInt8]>()
            var cursor = try store.entries()
            while let (key, value) = try cursor.next() {
                try check(seen.insert(key).inserted, "entries() yields \(describeKey(key)) twice")
                try check(live[key] == Fingerprint(value), "entries() yields \(Fingerprint(value)) for \(describeKey(key)), reads give \(show(live[key]))")
            }
            try check(seen.count == live.count, "entries() yields \(seen.count) keys; \(live.count) are live")
            guard keysToo else { return }
            var keyCount = 0
            var keys = try store.keys()
            while let key = try keys.next() {
                keyCount += 1
                try check(live[key] != nil, "keys() yields \(describeKey(key)), which is not live")
            }
            try check(keyCount == live.count, "keys() yields \(keyCount) keys; \(live.count) are live")
        }
    }

    func show(_ value: Fingerprint?) -> String { value.map { "\($0)" } ?? "nothing" }

    /// The start of a value as text: the child stamps each value "v <seed> <n> <member>;".
    func traceValue(_ store: Store, _ key: [UInt8]) -> String {
        guard let value = try? store.value(forKey: key) else { return "" }
        let stamp = value.prefix(while: { $0 != UInt8(ascii: ";") }).prefix(48)
        return " (the value found starts with '\(String(decoding: stamp, as: UTF8.self))')"
    }
}
