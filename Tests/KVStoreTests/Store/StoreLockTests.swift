@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Who may open a store, decided under the lock: concurrent creators, a deleted `LOCK` file, a
/// `STORE` file that belongs to other segments.
@Suite("Store: the lock and creation")
struct StoreLockTests {
    /// Starts `kvstore-crash-child --set-once` for each key at once and returns their exit codes.
    static func setOnceAtOnce(_ child: String, directory: String, keys: [String], holdMilliseconds: Int = 0) throws -> [Int32] {
        let processes = keys.map { key -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: child)
            process.arguments = ["--set-once", directory, key, String(holdMilliseconds)]
            process.standardOutput = FileHandle.nullDevice
            return process
        }
        for process in processes { try process.run() }
        for process in processes { process.waitUntilExit() }
        return processes.map(\.terminationStatus)
    }

    @Test func concurrentCreatorsOfOneStoreLoseNoAcknowledgedWrite() throws {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        try withScratchDirectory { scratch in
            var acknowledged = 0
            for round in 0..<20 {
                let directory = scratch + "/store-\(round)"
                let keys = (0..<6).map { "round-\(round)-process-\($0)" }
                let statuses = try Self.setOnceAtOnce(child, directory: directory, keys: keys)
                #expect(statuses.allSatisfy { $0 == 0 || $0 == 75 }, "exit codes \(statuses) in round \(round)")
                let store = try Store(path: directory)
                #expect(store.recoveryReport.problems.isEmpty, "\(store.recoveryReport.problems)")
                for (key, status) in zip(keys, statuses) where status == 0 {
                    acknowledged += 1
                    #expect(try store.value(forKey: key) == Array(key.utf8), "\(key) acknowledged but lost in round \(round)")
                }
                try store.close()
            }
            #expect(acknowledged >= 20)
        }
    }

    @Test func deletingTheLockFileLetsNoSecondWriterIn() throws {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        try withScratchDirectory { directory in
            let store = try Store(path: directory, configuration: TestStores.configuration())
            try store.set("first", forKey: "first")
            try FileSurgery.remove(directory + "/" + FileNames.lock)
            #expect(try Self.setOnceAtOnce(child, directory: directory, keys: ["second"]) == [75])
            #expect((try? Store(path: directory)) == nil, "a second handle opened past a deleted LOCK")
            try store.set("after", forKey: "after")
            try store.close()
            let reopened = try Store(path: directory)
            #expect(try reopened.value(forKey: "first") == Array("first".utf8))
            #expect(try reopened.value(forKey: "after") == Array("after".utf8))
            #expect(try reopened.value(forKey: "second") == nil)
            #expect(try reopened.verify().isOK)
            try reopened.close()
        }
    }

    @Test func storeFileOfAnotherStoreIsRefusedAndNothingChanges() throws {
        try withScratchDirectory { scratch in
            let mine = scratch + "/mine", other = scratch + "/other"
            let store = try Store(path: mine, configuration: TestStores.configuration())
            for i in 0..<100 { try store.set(Array("value \(i)".utf8), forKey: Array("key \(i)".utf8)) }
            try store.close()
            try Store(path: other).close()
            try FileSurgery.write(try FileSurgery.read(other + "/" + FileNames.manifest), to: mine + "/" + FileNames.manifest)
            let before = try FileSurgery.snapshot(mine)
            for readOnly in [false, true] {
                var configuration = TestStores.configuration()
                configuration.readOnly = readOnly
                do {
                    let opened = try Store(path: mine, configuration: configuration)
                    Issue.record("a store whose segments all name another store opened (readOnly: \(readOnly))")
                    try opened.close()
                } catch let error as KVError {
                    #expect(error.code == .corruption)
                    #expect(error.message.contains("STORE file does not belong"), "\(error)")
                }
            }
            #expect(try FileSurgery.snapshot(mine) == before)
        }
    }
}
