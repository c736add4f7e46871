// kvstore-crash-child STORE_DIR ORACLE_FILE SEED [KEYS]
//
// The writer that the kill -9 crash test (Tests/KVStoreTests/Crash) kills at random moments. It opens
// the store and writes random puts, removals and batches over a bounded key space forever. Around every
// operation it appends a line to ORACLE_FILE with a plain, unbuffered write(2), which survives the
// death of the process:
//
//   S <seed> <indexTrust>                       the store is open
//   K <key index> <key hex>                     the bytes of a key, before its first use in this run
//   B <n> P <key index> <length> <fnv1a64 hex>  operation n, a put, is about to start
//   B <n> R <key index>                         a removal
//   B <n> W <count> (P <key index> <length> <fnv> | R <key index>)…   a batch, its members in order
//   B <n> Y                                     a sync
//   D <n> [existed]                             operation n returned (removals: 1 if the key existed)
//
// Values are self-describing ("v <seed> <n> <member>;" then filler), so any value read back can be
// traced to the operation that wrote it; the oracle carries each value's length and FNV-1a hash.
// The key space is fixed by KEYS (default 1000), so successive children on one store overwrite
// each other's keys.
//
// kvstore-crash-child --set-once STORE_DIR KEY [HOLD_MS]
//
// Opens (creating if needed) the store, sets KEY to its own bytes, keeps the store open HOLD_MS
// milliseconds, closes it and exits 0; exits 75 when the store is locked, 1 on any other error.
// Many of these at once race to create one store (Tests/KVStoreTests/Store/StoreLockTests).
//
// kvstore-crash-child --counter STORE_DIR
//
// Increments a counter in read-modify-write transactions (each also writes a log key) and prints
// "A <n>" after each returned, until killed (Tests/KVStoreTests/Crash/TransactionCrashTests).
//
// kvstore-crash-child --backup STORE_DIR TARGET (writer|read-only)
//
// Opens the store (as its writer, or read-only) and backs it up into TARGET, then exits 0: the
// process the backup crash test kills at random moments (Tests/KVStoreTests/Crash/BackupCrashTests).
//
// kvstore-crash-child --under-fd-limit LIMIT STORE_DIR KEYS (read|readonly|exhaust)
//
// Lowers RLIMIT_NOFILE to LIMIT, then: `read` opens the store, checks that "key i" starts with
// "value i " for every i < KEYS, writes "new i" for 100 keys and closes; `readonly` opens it read-only and
// checks the keys; `exhaust` writes "x i" keys, prints "A i" after each acknowledged one, uses up
// every free descriptor after 200 of them, writes until a write fails, then prints "CLOSE ok" or
// "CLOSE <error>" (Tests/KVStoreTests/Reliability/DescriptorLimitTests).
//
// kvstore-crash-child --rebuild-memory STORE_DIR KEYS ROUNDS
//
// Fills a store with ROUNDS writes of KEYS keys and prints the anonymous memory its index rebuild
// takes (RebuildMemory.swift; Tests/KVStoreTests/Recovery/BoundedRebuildTests).
//
// kvstore-crash-child --live-writer | --live-reader | --live-check ...
//
// The writer, readers and final check of the live-reader tests (Tests/KVStoreTests/Crash/
// LiveReaderCrashTests, Tests/KVStoreTests/LiveReaders): see LiveProtocol.swift, LiveWriter.swift
// and LiveReader.swift.

import KVStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func fail(_ message: String) -> Never {
    var text = "kvstore-crash-child: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// 64-bit FNV-1a; the test computes the same over what it reads back.
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBufferPointer { buffer in
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in buffer { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}

/// Key `i`: a few one-byte keys, mostly 2 to 64 bytes, and about one in 200 of 1 to 4 KiB. The part
/// before the first "." is unique, so distinct indices give distinct keys.
func makeKey(_ i: Int) -> [UInt8] {
    if i < 6 { return [0xF0 + UInt8(i)] }
    var key = Array("k\(i).".utf8)
    let target = i % 211 == 7 ? 1024 + (i &* 131) % 3072 : 2 + (i &* 2_654_435_761) % 63
    var c = UInt8(ascii: "a") + UInt8(i % 26)
    while key.count < target {
        key.append(c)
        c = c == UInt8(ascii: "z") ? UInt8(ascii: "a") : c + 1
    }
    return key
}

struct CrashChild {
    let seed: UInt64
    let oracle: Int32
    let store: Store
    var rng: SplitMix64
    var keys: [[UInt8]?]

    /// Appends one line to the oracle with write(2): no user-space buffer that a kill could lose.
    func record(_ line: String) {
        var line = line + "\n"
        line.withUTF8 { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(oracle, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    fail("writing the oracle failed: errno \(errno)")
                }
                done += n
            }
        }
    }

    /// A key index, announcing the key's bytes in the oracle on its first use in this run.
    mutating func randomKey() -> Int {
        let i = Int(rng.next() % UInt64(keys.count))
        if keys[i] == nil {
            let key = makeKey(i)
            keys[i] = key
            record("K \(i) \(hex(key))")
        }
        return i
    }

    /// Words values of the third kind share: what a trained dictionary captures across records.
    static let words = ["Package:", "Version:", "Depends:", "Description:", "library", "runtime", "development",
                        "Maintainer: Debian Team <team@lists.debian.org>", "Priority: optional", "Section: utils"]

    /// A value of 0 bytes to 16 KiB (one in a thousand 100 to 300 KiB, which gets a segment of its
    /// own): a third compressible on its own, a third text of shared words (which a store with
    /// `.lz4` trains a dictionary for, so that kills land around training and the first records
    /// that use a new dictionary), a third random.
    mutating func makeValue(_ n: UInt64, _ member: Int) -> [UInt8] {
        let r = rng.next() % 10_000
        let length: Int
        switch r {
        case ..<2_000: length = Int(rng.next() % 24)
        case ..<8_000: length = 24 + Int(rng.next() % 277)
        case ..<9_700: length = 301 + Int(rng.next() % 1_748)
        case ..<9_990: length = 2_049 + Int(rng.next() % 14_336)
        default: length = (100 << 10) + Int(rng.next() % (200 << 10))
        }
        var value = Array("v \(seed) \(n) \(member);".utf8)
        let kind = rng.next() % 3
        if kind == 0 {
            while value.count < length { value += value }
        } else if kind == 1 {
            while value.count < length { value += Array((" " + Self.words[Int(rng.next() % UInt64(Self.words.count))]).utf8) }
        } else {
            value.reserveCapacity(length + 8)
            while value.count < length {
                withUnsafeBytes(of: rng.next()) { value.append(contentsOf: $0) }
            }
        }
        return Array(value.prefix(length))
    }

    func describe(_ value: [UInt8]) -> String { "\(value.count) \(String(fnv1a64(value), radix: 16))" }

    /// Writes until killed.
    mutating func run() -> Never {
        record("S \(seed) \(store.recoveryReport.indexTrust)")
        var n: UInt64 = 0
        do {
            while true {
                n += 1
                switch rng.next() % 1_000 {
                case ..<600:
                    let k = randomKey()
                    let value = makeValue(n, 0)
                    record("B \(n) P \(k) \(describe(value))")
                    try store.set(value, forKey: keys[k]!)
                    record("D \(n)")
                case ..<800:
                    let k = randomKey()
                    record("B \(n) R \(k)")
                    let existed = try store.removeValue(forKey: keys[k]!)
                    record("D \(n) \(existed ? 1 : 0)")
                case ..<997:
                    var members: [(key: Int, value: [UInt8]?)] = []
                    for m in 0..<(1 + Int(rng.next() % 10)) {
                        // Sometimes the same key twice in one batch.
                        let k = !members.isEmpty && rng.next() % 6 == 0 ? members[Int(rng.next() % UInt64(members.count))].key : randomKey()
                        members.append((k, rng.next() % 3 == 0 ? nil : makeValue(n, m)))
                    }
                    var line = "B \(n) W \(members.count)"
                    for member in members {
                        line += member.value.map { " P \(member.key) \(describe($0))" } ?? " R \(member.key)"
                    }
                    record(line)
                    let keys = self.keys
                    try store.write { batch in
                        for member in members {
                            if let value = member.value { batch.set(value, forKey: keys[member.key]!) } else { batch.removeValue(forKey: keys[member.key]!) }
                        }
                    }
                    record("D \(n)")
                default:
                    record("B \(n) Y")
                    try store.sync()
                    record("D \(n)")
                }
            }
        } catch {
            fail("operation \(n) failed: \(error)")
        }
    }
}

let arguments = CommandLine.arguments
if arguments.count >= 2 && arguments[1] == "--scripted-writer" { runScriptedWriter(Array(arguments.dropFirst(2))) }  // ScriptedWriter.swift
if arguments.count >= 2 && arguments[1] == "--rebuild-memory" { runRebuildMemory(Array(arguments.dropFirst(2))) }  // RebuildMemory.swift
if arguments.count >= 6 && arguments[1] == "--under-fd-limit", let limit = Int(arguments[2]), let keys = Int(arguments[4]) {
    var rl = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) != 0 { fail("setrlimit failed: errno \(errno)") }
    func say(_ line: String) {
        var line = line + "\n"
        line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    }
    do {
        switch arguments[5] {
        case "read", "readonly":
            var configuration = Store.Configuration()
            configuration.readOnly = arguments[5] == "readonly"
            configuration.automaticCompaction = nil
            let store = try Store(path: arguments[3], configuration: configuration)
            for i in 0..<keys where try !(store.value(forKey: "key \(i)") ?? []).starts(with: Array("value \(i) ".utf8)) {
                fail("key \(i) is wrong")
            }
            if !configuration.readOnly { for i in 0..<100 { try store.set("new \(i)", forKey: "new \(i)") } }
            try store.close()
            exit(0)
        default:
            var configuration = Store.Configuration()
            configuration.segmentSize = 64 << 10
            configuration.automaticCompaction = nil
            let store = try Store(path: arguments[3], configuration: configuration)
            var hog: [Int32] = []
            var i = 0
            while true {
                if i == 200 {
                    while true {
                        let fd = open("/dev/null", O_RDONLY)
                        if fd < 0 { break }
                        hog.append(fd)
                    }
                }
                do { try store.set([UInt8](repeating: UInt8(i & 0xFF), count: 1000), forKey: Array("x \(i)".utf8)) } catch {
                    if i < 200 { fail("a write failed before the descriptors were used up: \(error)") }
                    break
                }
                say("A \(i)")
                i += 1
                if i > 100_000 { fail("no write failed with every descriptor in use") }
            }
            do { try store.close(); say("CLOSE ok") } catch { say("CLOSE \(error)") }
            exit(0)
        }
    } catch {
        fail("\(error)")
    }
}
if arguments.count >= 2 && arguments[1].hasPrefix("--live-") {
    runLiveMode(arguments)
}
if arguments.count == 3 && arguments[1] == "--counter" {
    // Increments "counter" in transactions that read it, each also writing "log-<n>", and prints
    // "A <n>" once a transaction returned, until killed.
    do {
        let store = try Store(path: arguments[2])
        while true {
            let n = try store.write { batch -> Int in
                let old = try batch.value(forKey: Array("counter".utf8)).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
                batch.set(Array(String(old + 1).utf8), forKey: Array("counter".utf8))
                batch.set(Array("entry \(old + 1)".utf8), forKey: Array("log-\(old + 1)".utf8))
                return old + 1
            }
            let line = Array("A \(n)\n".utf8)
            _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        }
    } catch {
        fail("\(error)")
    }
}
if arguments.count == 5 && arguments[1] == "--backup" {
    do {
        var configuration = Store.Configuration()
        configuration.segmentSize = 64 << 10
        configuration.automaticCompaction = nil
        configuration.readOnly = arguments[4] == "read-only"
        let store = try Store(path: arguments[2], configuration: configuration)
        try store.backup(to: arguments[3])
        try store.close()
        exit(0)
    } catch {
        fail("\(error)")
    }
}
if arguments.count >= 4 && arguments[1] == "--set-once" {
    do {
        let store = try Store(path: arguments[2])
        try store.set(Array(arguments[3].utf8), forKey: Array(arguments[3].utf8))
        if arguments.count >= 5, let hold = UInt32(arguments[4]) { usleep(hold * 1000) }
        try store.close()
        exit(0)
    } catch let error as KVError where error.code == .locked {
        exit(75)
    } catch {
        fail("\(error)")
    }
}
guard arguments.count == 4 || arguments.count == 5, let seed = UInt64(arguments[3]) else {
    fail("usage: kvstore-crash-child STORE_DIR ORACLE_FILE SEED [KEYS]")
}
let keyCount = arguments.count == 5 ? Int(arguments[4]) ?? 0 : 1000
guard keyCount > 0 else { fail("KEYS must be a positive number") }
let oracle = open(arguments[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
guard oracle >= 0 else { fail("cannot open the oracle file: errno \(errno)") }

var configuration = Store.Configuration()
configuration.compression = seed & 1 == 0 ? .none : .lz4
configuration.segmentSize = (seed >> 1) & 1 == 0 ? 256 << 10 : 64 << 10
configuration.durability = .process
// Half of the children keep the index in shared memory (the link `index` into /dev/shm), and
// grow it there: kills land between making a table and linking it, and in the close's move back.
if (seed >> 3) & 1 == 1 { configuration.indexPlacement = .sharedMemory }

let store: Store
do {
    store = try Store(path: arguments[1], configuration: configuration)
} catch {
    fail("opening the store failed: \(error)")
}
// Half of the children also compact, over and over, on a second thread, so that kills land in the
// middle of compactions (low thresholds: a few overwrites make a segment eligible).
nonisolated(unsafe) var compactionTarget: Store? = nil

/// The compacting thread's body. Not top-level code: that would be isolated to the main actor.
nonisolated func compactForever(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    var options = Store.CompactionOptions()
    options.minimumDeadRatio = 0.3
    options.minimumDeadBytes = 0
    while let store = compactionTarget {
        _ = try? store.compact(options)
        usleep(1_000)
    }
    return nil
}

if (seed >> 2) & 1 == 1 {
    compactionTarget = store
    var thread = pthread_t()
    pthread_create(&thread, nil, compactForever, nil)
}

var child = CrashChild(seed: seed, oracle: oracle, store: store, rng: SplitMix64(state: seed),
                       keys: [[UInt8]?](repeating: nil, count: keyCount))
child.run()
