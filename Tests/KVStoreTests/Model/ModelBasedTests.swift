@testable import KVStore
import Foundation
import Testing

/// Random sequences of sets, removals, batches, syncs, reopens and simulated crashes, checked
/// against an in-memory dictionary after every step that reads, after every reopen and
/// periodically in full (every key, `containsKey`, and both cursors).
///
/// A failure prints the seed; rerun with `KVSTORE_TEST_SEED=<seed>` to replay it.
@Suite("Model-based")
struct ModelBasedTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        let name: String
        let compression: Store.Compression
        let segmentSize: Int
        let operations: Int
        /// Every key hashes to the same value (`KeyHasher.constant`): every lookup walks one long
        /// probe sequence and is decided by comparing the key stored in the record.
        let collidingHashes: Bool
        /// How many distinct keys the run draws from: small pools mean many overwrites.
        let keyPoolSize: Int
        /// Whether reopens sometimes switch compression, so that one store mixes both kinds of record.
        let switchesCompression: Bool
        let salt: UInt64

        var testDescription: String { name }
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "uncompressed, 64 KiB segments", compression: .none, segmentSize: 64 << 10, operations: 34_000,
                 collidingHashes: false, keyPoolSize: 2_000, switchesCompression: false, salt: 1),
        Scenario(name: "LZ4, 64 KiB segments, few keys", compression: .lz4, segmentSize: 64 << 10, operations: 34_000,
                 collidingHashes: false, keyPoolSize: 400, switchesCompression: false, salt: 2),
        Scenario(name: "LZ4 and uncompressed mixed, 256 KiB segments, many keys", compression: .lz4, segmentSize: 256 << 10,
                 operations: 34_000, collidingHashes: false, keyPoolSize: 6_000, switchesCompression: true, salt: 3),
        Scenario(name: "every key has the same hash", compression: .none, segmentSize: 64 << 10, operations: 6_000,
                 collidingHashes: true, keyPoolSize: 48, switchesCompression: true, salt: 4),
    ]

    @Test("random operations leave the store equal to a dictionary", arguments: scenarios)
    func randomOperationsMatchADictionary(_ scenario: Scenario) throws {
        let baseSeed = testSeed()
        try withTemporaryDirectory { directory in
            let run = try ModelRun(scenario: scenario, baseSeed: baseSeed, directory: directory + "/store")
            do {
                try run.execute()
            } catch is ModelRun.Stop {
                // The mismatch is already recorded as an issue.
            } catch {
                Issue.record("\(error) — \(run.context)")
            }
            run.finish()
        }
    }
}

/// One run of a scenario: the store under test, the model, and the random source.
private final class ModelRun {
    struct Stop: Error {}

    let scenario: ModelBasedTests.Scenario
    let baseSeed: UInt64
    let directory: String
    var rng: SplitMix64
    var configuration: Store.Configuration
    var store: Store
    var model: [[UInt8]: [UInt8]] = [:]
    let keyPool: [[UInt8]]
    var step = 0
    var stamp: UInt64 = 0
    var counts: [String: Int] = [:]
    let started = ContinuousClock.now

    var context: String {
        "scenario '\(scenario.name)', seed \(baseSeed) (rerun with KVSTORE_TEST_SEED=\(baseSeed)), step \(step)"
    }

    init(scenario: ModelBasedTests.Scenario, baseSeed: UInt64, directory: String) throws {
        self.scenario = scenario
        self.baseSeed = baseSeed
        self.directory = directory
        rng = SplitMix64(seed: baseSeed ^ (scenario.salt &* 0x9E37_79B9_7F4A_7C15))
        configuration = Store.Configuration()
        configuration.compression = scenario.compression
        configuration.segmentSize = scenario.segmentSize
        if scenario.collidingHashes { configuration.hasher = .constant(42) }
        keyPool = Self.makeKeys(scenario.keyPoolSize, using: &rng)
        store = try Store(path: directory, configuration: configuration)
    }

    /// Distinct keys: mostly 1 to 64 bytes, about one in fifty up to 4 KiB.
    static func makeKeys(_ count: Int, using rng: inout SplitMix64) -> [[UInt8]] {
        var seen = Set<[UInt8]>()
        var keys: [[UInt8]] = []
        while keys.count < count {
            let length = rng.chance(0.02) ? Int.random(in: 65...4096, using: &rng)
                : rng.chance(0.05) ? Int.random(in: 1...3, using: &rng) : Int.random(in: 1...64, using: &rng)
            let key = rng.chance(0.5) ? rng.bytes(length)
                : Array("key/\(keys.count)/".utf8.prefix(length)) + [UInt8](repeating: UInt8(ascii: "x"), count: max(0, length - "key/\(keys.count)/".utf8.count))
            if seen.insert(key).inserted { keys.append(key) }
        }
        return keys
    }

    /// A value of 0 bytes to ~8 KiB (one in 1,000 up to 300 KiB), compressible or random, whose first
    /// eight bytes (when it has that many) make it unique, so a stale value never passes for a new one.
    func makeValue() -> [UInt8] {
        stamp += 1
        let r = Int.random(in: 0..<10_000, using: &rng)
        let length: Int
        switch r {
        case ..<1_000: length = Int.random(in: 0..<16, using: &rng)
        case ..<6_500: length = Int.random(in: 16...256, using: &rng)
        case ..<9_000: length = Int.random(in: 257...2048, using: &rng)
        case ..<9_990: length = Int.random(in: 2049...8704, using: &rng)
        default: length = Int.random(in: (64 << 10)...(300 << 10), using: &rng)
        }
        var value: [UInt8]
        if rng.chance(0.5) {
            var pattern = rng.bytes(Int.random(in: 1...24, using: &rng))
            while pattern.count < length { pattern += pattern }
            value = Array(pattern.prefix(length))
        } else {
            value = rng.bytes(length)
        }
        if length >= 8 {
            withUnsafeBytes(of: stamp.littleEndian) { value.replaceSubrange(0..<8, with: $0) }
        }
        return value
    }

    func randomKey() -> [UInt8] { keyPool[Int.random(in: 0..<keyPool.count, using: &rng)] }

    // MARK: - Running

    func execute() throws {
        try verifyEverything("the start")
        while step < scenario.operations {
            step += 1
            let r = Int.random(in: 0..<10_000, using: &rng)
            switch r {
            case ..<4_800: try set()
            case ..<6_800: try remove()
            case ..<8_000: try batch()
            case ..<9_840: try read()
            case ..<9_990: try sync()
            case ..<9_994: try reopen()
            default: try crash()
            }
            if step % 5_000 == 0 { try verifyEverything("a periodic check") }
        }
        try reopen()
        count("final check")
    }

    func finish() {
        try? store.close()
        print("model run '\(scenario.name)': \(step) steps in \(started.duration(to: .now)), seed \(baseSeed): "
              + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
    }

    func count(_ what: String) { counts[what, default: 0] += 1 }

    func set() throws {
        let key = randomKey()
        let value = makeValue()
        try store.set(value, forKey: key)
        model[key] = value
        count("set")
    }

    func remove() throws {
        let key = randomKey()
        let existed = try store.removeValue(forKey: key)
        try check(existed == (model[key] != nil),
                  "removeValue returned \(existed) for a key that was \(model[key] == nil ? "absent" : "present") (\(describe(key)))")
        model[key] = nil
        count("remove")
    }

    func batch() throws {
        var operations: [(key: [UInt8], value: [UInt8]?)] = []
        for _ in 0..<Int.random(in: 1...12, using: &rng) {
            // Sometimes the same key again, so a batch sets (or removes) one key twice.
            let key = !operations.isEmpty && rng.chance(0.15)
                ? operations[Int.random(in: 0..<operations.count, using: &rng)].key : randomKey()
            operations.append((key, rng.chance(0.65) ? makeValue() : nil))
        }
        try store.write { batch in
            for op in operations {
                if let value = op.value { batch.set(value, forKey: op.key) } else { batch.removeValue(forKey: op.key) }
            }
        }
        for op in operations { model[op.key] = op.value }
        count("batch")
    }

    func read() throws {
        let key = randomKey()
        let expected = model[key]
        let got: [UInt8]?
        if rng.chance(0.3) { got = try store.withValue(forKey: key) { Array($0) } } else { got = try store.value(forKey: key) }
        try check(got == expected, "read after writes: \(mismatch(key, expected: expected, got: got))")
        let present = try store.containsKey(key)
        try check(present == (expected != nil), "containsKey is \(present) for a key that is \(expected == nil ? "absent" : "present") (\(describe(key)))")
        count("read")
    }

    func sync() throws {
        try store.sync()
        count("sync")
    }

    func reopen() throws {
        try store.close()
        if scenario.switchesCompression && rng.chance(0.3) {
            configuration.compression = configuration.compression == .none ? .lz4 : .none
        }
        store = try Store(path: directory, configuration: configuration)
        try check(store.recoveryReport.indexTrust == .clean, "after a clean close the index is trusted as it is, got \(store.recoveryReport.indexTrust)")
        try verifyEverything("a clean reopen")
        count("reopen")
    }

    /// Abandons the store as `kill -9` would, then opens it again: same boot (the index is replayed
    /// from its covered position) or, one time in four, a pretended reboot (the index is rebuilt).
    func crash() throws {
        store.simulateCrash()
        let reboot = rng.chance(0.25)
        if reboot { configuration.bootID = rng.bytes(16) }
        store = try Store(path: directory, configuration: configuration)
        let expected: Store.RecoveryReport.IndexTrust = reboot ? .rebuilt : .replayed
        try check(store.recoveryReport.indexTrust == expected,
                  "after a simulated crash\(reboot ? " and reboot" : "") the index should be \(expected), got \(store.recoveryReport.indexTrust)")
        try check(store.recoveryReport.problems.isEmpty, "recovery reported problems: \(store.recoveryReport.problems)")
        try verifyEverything(reboot ? "a crash and reboot" : "a crash")
        count(reboot ? "crash+reboot" : "crash")
    }

    // MARK: - Checking

    /// Compares every key of the model, a sample of absent keys, both cursors and the key count
    /// with the store.
    func verifyEverything(_ after: String) throws {
        for (key, expected) in model {
            let got = try store.value(forKey: key)
            try check(got == expected, "after \(after): \(mismatch(key, expected: expected, got: got))")
            try check(try store.containsKey(key), "after \(after): containsKey is false for a present key (\(describe(key)))")
        }
        for key in keyPool where model[key] == nil {
            let got = try store.value(forKey: key)
            try check(got == nil, "after \(after): a removed or never written key has a value: \(mismatch(key, expected: nil, got: got))")
            try check(try store.containsKey(key) == false, "after \(after): containsKey is true for an absent key (\(describe(key)))")
        }

        var seen = Set<[UInt8]>()
        var cursor = try store.entries()
        while let (key, value) = try cursor.next() {
            try check(seen.insert(key).inserted, "after \(after): entries() yields a key twice (\(describe(key)))")
            let expected = model[key]
            try check(expected == value, "after \(after): entries() disagrees with the model: \(mismatch(key, expected: expected, got: value))")
        }
        try check(seen.count == model.count, "after \(after): entries() yields \(seen.count) keys, the model has \(model.count)")
        // The invariants of the index against the log (HashIndex+Invariants.swift) hold after
        // every recovery, growth and close this test drives.
        let violations = try store.engine.invariantViolations()
        try check(violations.isEmpty, "after \(after): \(violations.prefix(3))")

        var keyCount = 0
        var keys = try store.keys()
        while let key = try keys.next() {
            keyCount += 1
            try check(model[key] != nil, "after \(after): keys() yields a key the model does not have (\(describe(key)))")
        }
        try check(keyCount == model.count, "after \(after): keys() yields \(keyCount) keys, the model has \(model.count)")

        let statistics = try store.statistics
        try check(statistics.keys == model.count, "after \(after): statistics.keys is \(statistics.keys), the model has \(model.count)")
        count("full check")
    }

    func check(_ condition: Bool, _ message: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard !condition else { return }
        Issue.record("\(message()) — \(context)", sourceLocation: sourceLocation)
        throw Stop()
    }

    func describe(_ key: [UInt8]) -> String {
        "key of \(key.count) bytes " + key.prefix(16).map { String(format: "%02x", $0) }.joined() + (key.count > 16 ? "…" : "")
    }

    func describe(_ value: [UInt8]?) -> String {
        guard let value else { return "nil" }
        return "\(value.count) bytes, fnv \(String(fnv1a64(value), radix: 16))"
            + (value.count >= 8 ? ", stamp \(value.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })" : "")
    }

    func mismatch(_ key: [UInt8], expected: [UInt8]?, got: [UInt8]?) -> String {
        "\(describe(key)): expected \(describe(expected)), got \(describe(got)) (last stamp \(stamp))"
    }
}
