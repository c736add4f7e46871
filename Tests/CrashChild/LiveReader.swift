// kvstore-crash-child --live-reader STORE_DIR ORACLE_FILE SEED KEYS [--stop FILE] [--reads N] [--drop-to UID]
//
// A live reader: with --drop-to (when run as root) it first gives up root for UID (groups, gid and
// uid, after exec and before anything is opened). It opens STORE_DIR with readOnly = true and reads
// random keys of k0..k<KEYS-1> until FILE (--stop) exists or N reads (--reads) are done, checking
// every read against the oracle: load the acknowledged version A, read, load it again (A2); a value
// must be exactly one written for that key, of a version in A...A2+1; "absent" is right only if a
// version in A...A2+1 is a removal (or A is 0). Reads are value(forKey:), withValue(forKey:) and
// containsKey. Every error thrown is a violation too.
//
// Prints "R ready uid=<uid> trust=<indexTrust> access=<access>" once open, then, when it stops,
// lines "V <violation>" (the first 20, then the first of each other key, 100 at most) and "R done reads=<n> values=<n> absent=<n> contains=<n> fresh=<n>
// violations=<n> access=<access> liveLooks=<n> close=ok|<error>" (access: Store.access, as describeAccess
// spells it; liveLooks: how many looks at it, one every 1,024 reads, found the store's own index), and exits 0 (the test judges the counts). `fresh` counts values of a version
// newer than the one acknowledged when the reader opened: writes it saw that happened after its open.
// Exits 75 when the open fails with .locked, 1 on any other failure to start.

import KVStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func dropPrivileges(to uid: Int) {
    guard getuid() == 0 else { return }
    let id = UInt32(uid)
    guard setgroups(0, nil) == 0 else { fail("setgroups failed: errno \(errno)") }
    guard setgid(id) == 0 else { fail("setgid(\(uid)) failed: errno \(errno)") }
    guard setuid(id) == 0 else { fail("setuid(\(uid)) failed: errno \(errno)") }
    guard getuid() == id, geteuid() == id, getgid() == id, getegid() == id, setuid(0) != 0 else {
        fail("still privileged after dropping to \(uid)")
    }
}

/// `Store.access` in one word: writer, live:<writer pid>, live:none, snapshot (or error:<code>).
func describeAccess(_ store: Store) -> String {
    do {
        switch try store.access {
        case .writer: return "writer"
        case .liveReader(let pid): return "live:" + (pid.map { String($0) } ?? "none")
        case .snapshotReader: return "snapshot"
        }
    } catch let error as KVError {
        return "error:\(error.code)"
    } catch {
        return "error"
    }
}

func runLiveReader(_ arguments: ArraySlice<String>) -> Never {
    let parsed = LiveArguments(arguments, flags: [])
    guard parsed.positional.count == 4, let seed = UInt64(parsed.positional[2]), let keys = Int(parsed.positional[3]), keys > 0 else {
        fail("usage: --live-reader STORE_DIR ORACLE_FILE SEED KEYS [--stop FILE] [--reads N] [--drop-to UID]")
    }
    if let uid = parsed.int("--drop-to") { dropPrivileges(to: uid) }
    let stop = parsed.options["--stop"]
    let limit = parsed.int("--reads")
    let oracle = LiveOracle(path: parsed.positional[1], keys: keys, writable: false)
    let atOpen = (0..<keys).map { oracle.load($0) }

    var configuration = Store.Configuration()
    configuration.readOnly = true
    let store: Store
    do {
        store = try Store(path: parsed.positional[0], configuration: configuration)
    } catch let error as KVError where error.code == .locked {
        var text = "kvstore-crash-child: the reader's open failed: \(error)\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        exit(75)
    } catch {
        fail("the reader's open failed: \(error)")
    }
    liveSay("R ready uid=\(getuid()) trust=\(store.recoveryReport.indexTrust) access=\(describeAccess(store))")

    var rng = SplitMix64(state: seed)
    var reads = 0, values = 0, absent = 0, contains = 0, fresh = 0, violations = 0
    var printed = 0
    var keysReported = Set<Int>()
    /// Prints the first 20 violations, and then the first of each other key (up to 100 lines).
    func violation(_ key: Int, _ text: String) {
        violations += 1
        guard printed < 20 || (printed < 100 && !keysReported.contains(key)) else { return }
        printed += 1
        keysReported.insert(key)
        liveSay("V after \(reads) reads: \(text) (access: \((try? store.access).map { "\($0)" } ?? "?"))")
    }
    // How often a look at `Store.access` found the store's own index (live), and not a private one.
    var liveLooks = 0
    while true {
        if let limit, reads >= limit { break }
        if let stop, reads % 64 == 0, access(stop, F_OK) == 0 { break }
        if reads % 1024 == 0, case .liveReader? = try? store.access { liveLooks += 1 }
        let i = liveRandomKey(&rng, active: keys)
        let key = LiveValues.key(i)
        let kind = rng.next() % 10
        let low = oracle.load(i)
        reads += 1
        do {
            if kind == 9 {
                let present = try store.containsKey(key)
                let high = oracle.load(i)
                contains += 1
                if let problem = LiveValues.judgeContains(key: i, present, low: low, high: high) { violation(i, problem) }
            } else {
                let bytes = kind < 7 ? try store.value(forKey: key) : try store.withValue(forKey: key) { Array($0) }
                let high = oracle.load(i)
                if let problem = LiveValues.judgeValue(key: i, bytes, low: low, high: high) {
                    violation(i, problem)
                } else if let bytes {
                    values += 1
                    if let (_, v) = LiveValues.stamp(of: bytes), v > atOpen[i] { fresh += 1 }
                } else {
                    absent += 1
                }
            }
        } catch {
            violation(i, "reading key \(i) threw \(error)")
        }
    }
    let accessAtEnd = describeAccess(store)
    var closed = "ok"
    do { try store.close() } catch { closed = "\(error)".split(separator: " ").joined(separator: "_") }
    liveSay("R done reads=\(reads) values=\(values) absent=\(absent) contains=\(contains) fresh=\(fresh) violations=\(violations) access=\(accessAtEnd) liveLooks=\(liveLooks) close=\(closed)")
    exit(0)
}

// kvstore-crash-child --live-check STORE_DIR ORACLE_FILE KEYS [--readonly]
//
// With no writer running: opens the store (for writing, which recovers it, or with --readonly) and
// checks every key against the oracle as a reader does (version A or A+1). Prints up to 20 "V"
// lines and "C checked=<n> values=<n> absent=<n> violations=<n> segments=<n> keys=<n>
// indexCapacity=<n> trust=<indexTrust>"; exits 0, 75 when locked, 1 on any other error.
func runLiveCheck(_ arguments: ArraySlice<String>) -> Never {
    let parsed = LiveArguments(arguments, flags: ["--readonly"])
    guard parsed.positional.count == 3, let keys = Int(parsed.positional[2]), keys > 0 else {
        fail("usage: --live-check STORE_DIR ORACLE_FILE KEYS [--readonly]")
    }
    let oracle = LiveOracle(path: parsed.positional[1], keys: keys, writable: false)
    var configuration = Store.Configuration()
    configuration.segmentSize = 64 << 10
    configuration.readOnly = parsed.options["--readonly"] != nil
    do {
        let store = try Store(path: parsed.positional[0], configuration: configuration)
        var values = 0, absent = 0, violations = 0
        for i in 0..<keys {
            let a = oracle.load(i)
            let bytes = try store.value(forKey: LiveValues.key(i))
            if let problem = LiveValues.judgeValue(key: i, bytes, low: a, high: a) {
                violations += 1
                if violations <= 20 { liveSay("V \(problem)") }
            } else if bytes == nil { absent += 1 } else { values += 1 }
        }
        let statistics = try store.statistics
        liveSay("C checked=\(keys) values=\(values) absent=\(absent) violations=\(violations) segments=\(statistics.segments) keys=\(statistics.keys) indexCapacity=\(statistics.indexCapacity) trust=\(store.recoveryReport.indexTrust)")
        try store.close()
        exit(0)
    } catch let error as KVError where error.code == .locked {
        exit(75)
    } catch {
        fail("the check failed: \(error)")
    }
}
