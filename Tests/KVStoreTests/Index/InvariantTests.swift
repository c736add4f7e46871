@testable import KVStore
import Foundation
import Testing

/// The index's invariants against the log (HashIndex+Invariants.swift) hold at every point where
/// they must: after recovery of each kind, after growth, after compaction, and at close; and the
/// check itself finds a broken one.
@Suite("Index: invariants")
struct InvariantTests {
    static var configuration: Store.Configuration {
        var configuration = TestStores.configuration(segmentSize: 64 << 10)
        configuration.automaticCompaction = nil
        return configuration
    }

    static func expectSound(_ store: Store, _ when: String) throws {
        let violations = try store.engine.invariantViolations()
        #expect(violations.isEmpty, "\(when): \(violations.prefix(3))")
    }

    @Test func invariantsHoldAfterGrowthCompactionEveryKindOfRecoveryAndBeforeClose() throws {
        try withScratchDirectory { directory in
            var store = try Store(path: directory, configuration: Self.configuration)
            for i in 0..<5_000 { try store.set(Array(repeating: UInt8(i % 251), count: i % 300), forKey: Array("key \(i)".utf8)) }
            try Self.expectSound(store, "after growth")
            for i in stride(from: 0, to: 5_000, by: 3) { _ = try store.removeValue(forKey: Array("key \(i)".utf8)) }
            for i in stride(from: 1, to: 5_000, by: 3) { try store.set([1], forKey: Array("key \(i)".utf8)) }
            var options = Store.CompactionOptions()
            options.minimumDeadRatio = 0.3
            options.minimumDeadBytes = 0
            #expect(try store.compact(options).segmentsCompacted > 0)
            try Self.expectSound(store, "after compaction")
            try store.close()

            store = try Store(path: directory, configuration: Self.configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            try Self.expectSound(store, "after a clean open")
            try store.set([2], forKey: "after")
            store.simulateCrash()

            store = try Store(path: directory, configuration: Self.configuration)
            #expect(store.recoveryReport.indexTrust == .replayed)
            try Self.expectSound(store, "after a replay")
            try Self.expectSound(store, "before close")
            try store.close()

            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: Self.configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            try Self.expectSound(store, "after a rebuild")
            try store.close()
        }
    }

    @Test func theCheckFindsACounterThatDisagreesWithTheTable() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory, configuration: Self.configuration)
            for i in 0..<100 { try store.set([1], forKey: Array("key \(i)".utf8)) }
            try store.engine.withWriter { (w) throws(KVError) in w.index.setCounts(live: 99, tombstones: 0) }
            let violations = try store.engine.invariantViolations()
            #expect(violations.contains { $0.contains("liveCount is 99") }, "\(violations)")
            store.simulateCrash()
        }
    }
}
