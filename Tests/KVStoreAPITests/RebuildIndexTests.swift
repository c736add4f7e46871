import Foundation
import KVStore
import Testing

/// `Store.rebuildIndex(at:configuration:)`, through the public API only.
@Suite("Rebuilding the index")
struct RebuildIndexTests {
    /// Small segments, so that a few thousand keys fill several (sealed ones with hint files).
    static var configuration: Store.Configuration {
        var configuration = Store.Configuration()
        configuration.segmentSize = 64 * 1024
        configuration.automaticCompaction = nil
        return configuration
    }

    /// 3,000 keys, a third overwritten, every fifth removed: what each key must hold.
    static func fill(_ store: Store) throws -> [String: String?] {
        var expected: [String: String?] = [:]
        for i in 0..<3000 {
            try store.set("value-\(i)", forKey: "key-\(i)")
            expected["key-\(i)"] = "value-\(i)"
        }
        for i in stride(from: 0, to: 3000, by: 3) {
            try store.set("new-\(i)", forKey: "key-\(i)")
            expected["key-\(i)"] = "new-\(i)"
        }
        for i in stride(from: 0, to: 3000, by: 5) {
            try store.removeValue(forKey: "key-\(i)")
            expected["key-\(i)"] = .some(nil)
        }
        return expected
    }

    @Test func rebuildIndexRebuildsFromTheLogAndKeepsEveryKey() throws {
        try withTemporaryDirectory { dir in
            var store = try Store(path: dir, configuration: Self.configuration)
            let expected = try Self.fill(store)
            try store.close()

            let report = try Store.rebuildIndex(at: dir, configuration: Self.configuration)
            #expect(report.indexTrust == .rebuilt)
            #expect(report.problems.isEmpty)
            #expect(report.setAsideSegments.isEmpty)

            // Closed cleanly: the next open uses the new index as it is.
            store = try Store(path: dir, configuration: Self.configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            for (key, value) in expected {
                #expect(try store.string(forKey: key) == value, "\(key)")
            }
            #expect(try store.statistics.keys == expected.values.filter { $0 != nil }.count)
            #expect(try store.verify().isOK)
            try store.close()
        }
    }

    /// An index that opens as clean but whose slots are wrong: an open trusts it, verify finds it
    /// wrong, and the rebuild puts it right.
    @Test func rebuildIndexFixesAnIndexThatOpensCleanButIsWrong() throws {
        try withTemporaryDirectory { dir in
            var store = try Store(path: dir, configuration: Self.configuration)
            let expected = try Self.fill(store)
            try store.close()
            // Slots just after the index's header page (the file's layout is known to the test only).
            let index = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/index"))
            try index.seek(toOffset: 4096)
            try index.write(contentsOf: [UInt8](repeating: 0xAB, count: 4096))
            try index.close()

            store = try Store(path: dir, configuration: Self.configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(try !store.verify().isOK)
            try store.close()

            #expect(try Store.rebuildIndex(at: dir, configuration: Self.configuration).indexTrust == .rebuilt)
            store = try Store(path: dir, configuration: Self.configuration)
            #expect(try store.verify().isOK)
            for (key, value) in expected {
                #expect(try store.string(forKey: key) == value, "\(key)")
            }
            try store.close()
        }
    }

    @Test func rebuildIndexThrowsLockedWhileAnotherHandleHasTheStoreOpen() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir, configuration: Self.configuration)
            try store.set("value", forKey: "key")
            let error = #expect(throws: KVError.self) { try Store.rebuildIndex(at: dir, configuration: Self.configuration) }
            #expect(error?.code == .locked)
            // The open handle is not disturbed.
            try store.set("other", forKey: "key 2")
            #expect(try store.string(forKey: "key") == "value")
            try store.close()

            #expect(try Store.rebuildIndex(at: dir, configuration: Self.configuration).indexTrust == .rebuilt)
            let reopened = try Store(path: dir, configuration: Self.configuration)
            #expect(try reopened.string(forKey: "key 2") == "other")
            try reopened.close()
        }
    }

    @Test func rebuildIndexCreatesNoStore() throws {
        try withTemporaryDirectory { dir in
            let missing = dir + "/missing"
            #expect(#expect(throws: KVError.self) { try Store.rebuildIndex(at: missing) }?.code == .notAStore)
            #expect(!FileManager.default.fileExists(atPath: missing))

            let empty = dir + "/empty"
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
            #expect(#expect(throws: KVError.self) { try Store.rebuildIndex(at: empty) }?.code == .notAStore)
            #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)
        }
    }

    @Test func rebuildIndexRefusesAReadOnlyConfiguration() throws {
        try withTemporaryDirectory { dir in
            try Store(path: dir, configuration: Self.configuration).close()
            let before = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            var configuration = Self.configuration
            configuration.readOnly = true
            let error = #expect(throws: KVError.self) { try Store.rebuildIndex(at: dir, configuration: configuration) }
            #expect(error?.code == .invalidArgument)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == before)
        }
    }
}
