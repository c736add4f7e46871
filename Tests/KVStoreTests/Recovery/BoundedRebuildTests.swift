@testable import KVStore
import Foundation
import Synchronization
import Testing

/// The index rebuilt newest segment first into its own mapped file (FORMAT.md §6 step 4): exact
/// whatever the history holds, in anonymous memory that does not grow with the history.
@Suite("Recovery: bounded rebuild")
struct BoundedRebuildTests {
    /// Drives a store and an in-memory model with the same random history: puts, removals, batches,
    /// keys set again in later segments and in the same one, compactions that copy records forward.
    static func randomHistory(_ store: Store, seed: UInt64, keys: Int, operations: Int,
                              compactEvery: Int = 0) throws -> [String: [UInt8]] {
        var rng = SplitMix64(seed: seed)
        var model: [String: [UInt8]] = [:]
        for n in 0..<operations {
            let key = "k\(Int.random(in: 0..<keys, using: &rng))"
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                try store.removeValue(forKey: key)
                model[key] = nil
            case 2:
                let other = "k\(Int.random(in: 0..<keys, using: &rng))"
                let value = Array("batch \(n)".utf8)
                try store.write { batch in
                    batch.set(value, forKey: Array(key.utf8))
                    batch.removeValue(forKey: Array(other.utf8))
                }
                model[key] = value
                model[other] = nil
            default:
                let value = [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: Int.random(in: 0...300, using: &rng))
                try store.set(value, forKey: key)
                model[key] = value
            }
            if compactEvery > 0 && n % compactEvery == compactEvery - 1 {
                var options = Store.CompactionOptions()
                options.minimumDeadRatio = 0.2
                options.minimumDeadBytes = 0
                _ = try store.compact(options)
            }
        }
        return model
    }

    static func expectContents(_ store: Store, _ model: [String: [UInt8]], keys: Int) throws {
        for i in 0..<keys {
            let key = "k\(i)"
            #expect(try store.value(forKey: key) == model[key], "\(key)")
        }
        #expect(try store.statistics.keys == model.count)
    }

    /// How a rebuild is made to build its table: the hasher, and the window of slots it holds in
    /// memory (``RebuildWindows``): `nil` is the default (a store this small is one window).
    struct Shape: Sendable, CustomTestStringConvertible {
        var hasher: KeyHasher
        var windowBytes: Int? = nil
        var spill = RebuildWindows.defaultSpill
        var testDescription: String
    }

    static let shapes = [
        Shape(hasher: .colliding(seed: 5, distinct: 37), testDescription: "forced collisions"),
        Shape(hasher: .wyhash(seed: 99), testDescription: "wyhash"),
        Shape(hasher: .wyhash(seed: 99), windowBytes: 4 << 10, spill: 64, testDescription: "wyhash, four windows"),
        Shape(hasher: .colliding(seed: 5, distinct: 37), windowBytes: 4 << 10, spill: 16,
              testDescription: "forced collisions overflowing the windows (built again in the mapped file)"),
    ]

    @Test(arguments: shapes)
    func rebuildMatchesTheModelWithCollisionsOverwritesTombstonesAndCompaction(_ shape: Shape) throws {
        try withScratchDirectory { directory in
            var configuration = TestStores.configuration(segmentSize: 64 << 10, hasher: shape.hasher)
            configuration.automaticCompaction = nil
            configuration.rebuildWindowBytes = shape.windowBytes
            configuration.rebuildWindowSpill = shape.spill
            let keys = 700
            var store = try Store(path: directory, configuration: configuration)
            let model = try Self.randomHistory(store, seed: 3, keys: keys, operations: 12_000, compactEvery: 3_000)
            try store.close()
            #expect(try FileSurgery.segmentNames(in: directory).count >= 2)
            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            #expect(store.recoveryReport.problems.isEmpty, "\(store.recoveryReport.problems)")
            try Self.expectContents(store, model, keys: keys)
            try store.close()
            // Without any hint file every segment is scanned instead: the same index.
            for name in try FileSurgery.names(in: directory) where name.hasSuffix(FileNames.hintSuffix) {
                try FileSurgery.remove(directory + "/" + name)
            }
            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            try Self.expectContents(store, model, keys: keys)
            try store.close()
        }
    }

    /// Within one segment the record at the larger offset is the newer: a key set, removed and set
    /// again in the active segment, and removed then set in a sealed one.
    @Test func theLaterRecordOfASegmentWinsWhateverItsKind() throws {
        try withScratchDirectory { directory in
            var configuration = TestStores.configuration(segmentSize: 64 << 10, hasher: .constant(42))
            configuration.automaticCompaction = nil
            var store = try Store(path: directory, configuration: configuration)
            try store.set("1", forKey: "a")
            try store.removeValue(forKey: "a")
            try store.set("2", forKey: "a")
            try store.set("1", forKey: "b")
            try store.removeValue(forKey: "b")
            try store.set("x", forKey: "c")
            // Roll into a new segment: the records above are sealed with a hint.
            var i = 0
            while try FileSurgery.segmentNames(in: directory).count < 3 {
                try store.set([UInt8](repeating: 1, count: 2_000), forKey: "filler-\(i % 4)")
                i += 1
            }
            try store.removeValue(forKey: "c")
            try store.set("y", forKey: "c")
            try store.set("z", forKey: "c")
            try store.removeValue(forKey: "c")
            try store.close()
            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            #expect(try store.value(forKey: "a") == Array("2".utf8))
            #expect(try store.value(forKey: "b") == nil)
            #expect(try store.value(forKey: "c") == nil)
            #expect(try store.statistics.keys == 1 + 4)
            try store.close()
        }
    }

    @Test func progressIsReportedToACallerThatAsks() throws {
        try withScratchDirectory { directory in
            var configuration = TestStores.configuration(segmentSize: 64 << 10)
            configuration.automaticCompaction = nil
            let store = try Store(path: directory, configuration: configuration)
            for i in 0..<3_000 { try store.set([UInt8](repeating: 7, count: 100), forKey: "key-\(i % 1_000)") }
            try store.close()
            let reports = Mutex<[Store.RebuildProgress]>([])
            var rebuilding = configuration
            rebuilding.rebuildProgress = { progress in reports.withLock { $0.append(progress) } }
            _ = try Store.rebuildIndex(at: directory, configuration: rebuilding)
            let seen = reports.withLock { $0 }
            let segments = try FileSurgery.segmentNames(in: directory).count
            #expect(seen.count >= segments)
            #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.recordsRead <= $1.recordsRead && $0.segmentsRead <= $1.segmentsRead })
            let last = try #require(seen.last)
            #expect(last.segments == segments && last.segmentsRead == segments)
            #expect(last.records == 3_000 && last.recordsRead == 3_000 && last.fractionDone == 1)
            #expect(last.keys == 1_000)
        }
    }

    /// A history of ten writes per key: the rebuild's (and verify's) anonymous memory (RssAnon, sampled every
    /// millisecond in a child process, so that no other test's allocations count) grows by at most
    /// 16 bytes per live key + 64 MiB. Holding every record of the history, as rebuilds did before,
    /// took ~150 bytes per record here: more than three times the bound.
    @Test func rebuildOfTenTimesMoreRecordsThanKeysStaysWithinItsMemoryBound() throws {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        try withScratchDirectory { directory in
            let keys = 150_000
            let result = try DescriptorLimitTests.run(child, ["--rebuild-memory", directory + "/store", String(keys), "10"])
            #expect(result.status == 0, "\(result.output)")
            let fields = result.output.split(separator: " ").map(String.init)
            let figures = Dictionary(uniqueKeysWithValues: stride(from: 0, to: fields.count - 1, by: 2).map {
                (fields[$0], Int(fields[$0 + 1].filter(\.isNumber)) ?? -1)
            })
            let live = try #require(figures["LIVE"]), base = try #require(figures["BASE"]), peak = try #require(figures["PEAK"])
            // Every thirteenth key removed for good; the seventh ones came back.
            #expect(live == keys - (keys + 12) / 13)
            let boundKB = (16 * live) / 1024 + 64 * 1024
            #expect(peak - base <= boundKB, "the rebuild grew anonymous memory by \(peak - base) kB; the bound is \(boundKB) kB")
            // verify() keeps what the log ends with in the same kind of table: the same bound
            // (it held every key and record location in dictionaries before: ~100 bytes per record).
            let verifyBase = try #require(figures["VERIFYBASE"]), verifyPeak = try #require(figures["VERIFYPEAK"])
            #expect(verifyPeak - verifyBase <= boundKB, "verify grew anonymous memory by \(verifyPeak - verifyBase) kB; the bound is \(boundKB) kB")
        }
    }
}
