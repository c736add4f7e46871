@testable import KVStore
import Foundation
import Testing

@Suite("Read-only open")
struct ReadOnlyTests {
    /// Every file name and its bytes, to prove a read-only session changed nothing.
    private func snapshot(_ dir: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return files
    }

    private func fill(_ dir: String) throws -> Store {
        var configuration = Store.Configuration()
        configuration.segmentSize = 64 * 1024
        configuration.compression = .lz4
        let store = try Store(path: dir, configuration: configuration)
        for i in 0..<3000 { try store.set(Array("value \(i) ".utf8) + [UInt8](repeating: UInt8(i % 7), count: 60), forKey: Array("key-\(i)".utf8)) }
        for i in stride(from: 0, to: 3000, by: 5) { try store.removeValue(forKey: Array("key-\(i)".utf8)) }
        return store
    }

    private func readEverything(_ dir: String, expectTrust: Store.RecoveryReport.IndexTrust) throws {
        var configuration = Store.Configuration()
        configuration.readOnly = true
        let store = try Store(path: dir, configuration: configuration)
        #expect(store.recoveryReport.indexTrust == expectTrust)
        for i in 0..<3000 {
            let expected: [UInt8]? = i % 5 == 0 ? nil : Array("value \(i) ".utf8) + [UInt8](repeating: UInt8(i % 7), count: 60)
            #expect(try store.value(forKey: Array("key-\(i)".utf8)) == expected)
        }
        var cursor = try store.entries()
        var count = 0
        while try cursor.next() != nil { count += 1 }
        #expect(count == 2400)
        #expect(try store.statistics.keys == 2400)
        #expect(try store.verify().isOK)
        #expect { try store.set("x", forKey: "y") } throws: { ($0 as? KVError)?.code == .readOnly }
        #expect { try store.removeValue(forKey: "key-1") } throws: { ($0 as? KVError)?.code == .readOnly }
        try store.close()
        #expect { try store.value(forKey: "key-1") } throws: { ($0 as? KVError)?.code == .closed }
    }

    @Test func readOnlySessionOnACleanStoreChangesNoByte() throws {
        try withTemporaryDirectory { dir in
            try fill(dir).close()
            let before = try snapshot(dir)
            try readEverything(dir, expectTrust: .clean)
            #expect(try snapshot(dir) == before)
        }
    }

    @Test func readOnlySessionAfterACrashChangesNoByteAndSeesEveryWrite() throws {
        try withTemporaryDirectory { dir in
            try fill(dir).simulateCrash()
            let before = try snapshot(dir)
            try readEverything(dir, expectTrust: .rebuilt)
            #expect(try snapshot(dir) == before)
            // A normal open afterwards still recovers as after any crash.
            let store = try Store(path: dir)
            #expect(store.recoveryReport.indexTrust == .replayed)
            try store.close()
        }
    }

    @Test func readOnlyOpenRefusesWhatIsNotAStoreWithoutCreatingAnything() throws {
        try withTemporaryDirectory { dir in
            var configuration = Store.Configuration()
            configuration.readOnly = true
            #expect { try Store(path: dir + "/missing", configuration: configuration) } throws: { ($0 as? KVError)?.code == .notAStore }
            #expect(!FileManager.default.fileExists(atPath: dir + "/missing"))
            #expect { try Store(path: dir, configuration: configuration) } throws: { ($0 as? KVError)?.code == .notAStore }
            let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(names.isEmpty)
        }
    }

    @Test func readOnlyOpenOfAStoreOpenForWritingIsALiveReader() throws {
        try withTemporaryDirectory { dir in
            let writer = try fill(dir)
            var configuration = Store.Configuration()
            configuration.readOnly = true
            let reader = try Store(path: dir, configuration: configuration)
            #expect(reader.recoveryReport.indexTrust == .live)
            #expect(try reader.access == .liveReader(writerProcessID: getpid()))
            #expect(try reader.value(forKey: Array("key-1".utf8)) != nil)
            try writer.close()
            try reader.close()
        }
    }
}
