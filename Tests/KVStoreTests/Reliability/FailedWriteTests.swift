@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A write that threw leaves nothing in the log that a later replay, rebuild or read-only open
/// could apply (issue 7, item 2).
@Suite("Reliability: failed writes leave nothing behind")
struct FailedWriteTests {
    /// 767 keys in a 1,024-slot index: the next two-key batch must grow it first.
    static func storeOneInsertBeforeGrowth(_ directory: String) throws -> (Store, Store.Configuration) {
        var configuration = TestStores.configuration(segmentSize: 1 << 20)
        configuration.automaticCompaction = nil
        let store = try Store(path: directory, configuration: configuration)
        try store.write { batch in
            for i in 0..<767 { batch.set(Array("v\(i)".utf8), forKey: Array(String(format: "f%03d", i).utf8)) }
        }
        return (store, configuration)
    }

    /// The update after the failed batch is sized so that it ends exactly where a member of the
    /// failed batch began: 40 bytes (the batch record's length) or 88 (the batch record and the
    /// first member). Before the fix, replay then found that member whole and applied it.
    @Test(arguments: [4, 52])
    func batchThatFailedToGrowTheIndexIsNotReplayedAfterACrash(updateValueLength: Int) throws {
        try withScratchDirectory { directory in
            let fault = BadInputTests.Fault(.open, errno: EMFILE, pathSuffixes: [FileNames.index + FileNames.temporarySuffix])
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                let (store, configuration) = try Self.storeOneInsertBeforeGrowth(directory)
                fault.armed.store(true, ordering: .releasing)
                #expect(throws: KVError.self) {
                    try store.write { batch in
                        batch.set("new1", forKey: "BATCH-A")
                        batch.set("new2", forKey: "BATCH-B")
                    }
                }
                fault.armed.store(false, ordering: .releasing)
                #expect(try store.value(forKey: "BATCH-A") == nil)
                try store.set([UInt8](repeating: 0x75, count: updateValueLength), forKey: "f001")
                store.simulateCrash()

                var readOnly = configuration
                readOnly.readOnly = true
                for (name, config) in [("read-only", readOnly), ("replay", configuration)] {
                    let reopened = try Store(path: directory, configuration: config)
                    #expect(try reopened.value(forKey: "BATCH-A") == nil, "\(name): a member of the failed batch came back")
                    #expect(try reopened.value(forKey: "BATCH-B") == nil, "\(name): a member of the failed batch came back")
                    #expect(try reopened.value(forKey: "f001") == [UInt8](repeating: 0x75, count: updateValueLength))
                    #expect(try reopened.statistics.keys == 767)
                    try reopened.close()
                }
                try FileSurgery.remove(directory + "/" + FileNames.index)
                let rebuilt = try Store(path: directory, configuration: configuration)
                #expect(rebuilt.recoveryReport.indexTrust == .rebuilt)
                #expect(try rebuilt.value(forKey: "BATCH-A") == nil && rebuilt.value(forKey: "BATCH-B") == nil)
                #expect(try rebuilt.verify().isOK)
                try rebuilt.close()
            }
        }
    }

    /// A member's old record cannot be read (EIO) to compare its key: the batch must throw before
    /// it is published, not be half indexed in this process and whole after a reopen.
    @Test func batchWhoseKeyLookupFailsIsNeitherHalfVisibleNorReplayed() throws {
        try withScratchDirectory { directory in
            let fault = BadInputTests.Fault(.pread, errno: EIO, pathSuffixes: ["/" + FileNames.segment(1)])
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                var configuration = TestStores.configuration(segmentSize: 64 << 10)
                configuration.automaticCompaction = nil
                let store = try Store(path: directory, configuration: configuration)
                try store.set("old value", forKey: "old")
                for i in 0..<200 { try store.set([UInt8](repeating: 7, count: 1_000), forKey: Array("filler \(i)".utf8)) }
                #expect(try FileSurgery.segmentNames(in: directory).count > 2)
                fault.armed.store(true, ordering: .releasing)
                #expect(throws: KVError.self) {
                    try store.write { batch in
                        batch.set("new", forKey: "brand-new")
                        batch.set("new value", forKey: "old")
                    }
                }
                #expect(try store.value(forKey: "brand-new") == nil, "half of a batch that threw is visible")
                fault.armed.store(false, ordering: .releasing)
                #expect(try store.value(forKey: "old") == Array("old value".utf8))
                try store.set("after", forKey: "after")
                store.simulateCrash()
                let reopened = try Store(path: directory, configuration: configuration)
                #expect(try reopened.value(forKey: "brand-new") == nil, "a batch that threw came back")
                #expect(try reopened.value(forKey: "old") == Array("old value".utf8))
                #expect(try reopened.value(forKey: "after") == Array("after".utf8))
                try reopened.close()
            }
        }
    }

    @Test func putThatFailedToGrowTheIndexLeavesZerosPastTheEnd() throws {
        try withScratchDirectory { directory in
            let fault = BadInputTests.Fault(.open, errno: EMFILE, pathSuffixes: [FileNames.index + FileNames.temporarySuffix])
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                let (store, _) = try Self.storeOneInsertBeforeGrowth(directory)
                try store.set("x", forKey: "one-more")  // 768: the next new key grows the index
                let before = try FileSurgery.read(FileSurgery.lastSegmentPath(in: directory))
                fault.armed.store(true, ordering: .releasing)
                #expect(throws: KVError.self) { try store.set([UInt8](repeating: 0x33, count: 500), forKey: "NEW-KEY") }
                fault.armed.store(false, ordering: .releasing)
                #expect(try FileSurgery.read(FileSurgery.lastSegmentPath(in: directory)) == before, "the failed put wrote bytes")
                store.simulateCrash()
            }
        }
    }
}
