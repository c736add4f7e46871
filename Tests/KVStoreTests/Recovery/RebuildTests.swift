@testable import KVStore
import Foundation
import Testing

/// Targeted cases of rebuilding the index from the log (the paths a power loss takes), each the
/// minimal form of something the randomized power-loss test found or could hit.
@Suite("Recovery: rebuild")
struct RebuildTests {
    /// Reopens `directory` as after a reboot: another boot id, so the index is not trusted.
    static func reopenAfterReboot(_ directory: String, _ configuration: Store.Configuration) throws -> Store {
        var configuration = configuration
        configuration.bootID = TestStores.randomBootID()
        return try Store(path: directory, configuration: configuration)
    }

    @Test(arguments: [Store.Compression.none, .lz4])
    func recordsAfterABatchOfCompressedValuesAreFoundByARebuild(_ compression: Store.Compression) throws {
        try withScratchDirectory { directory in
            let configuration = TestStores.configuration(compression: compression, segmentSize: 1 << 20)
            var store = try Store(path: directory, configuration: configuration)
            let compressible = [UInt8](repeating: 7, count: 1_000)
            try store.write { batch in
                batch.set(compressible, forKey: Array("in-batch-1".utf8))
                batch.set(compressible, forKey: Array("in-batch-2".utf8))
            }
            try store.set([1, 2, 3], forKey: Array("after".utf8))
            try store.set(compressible, forKey: Array("after-2".utf8))
            try store.sync()
            store.simulateCrash()

            store = try Self.reopenAfterReboot(directory, configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            #expect(try store.value(forKey: Array("in-batch-1".utf8)) == compressible)
            #expect(try store.value(forKey: Array("in-batch-2".utf8)) == compressible)
            #expect(try store.value(forKey: Array("after".utf8)) == [1, 2, 3])
            #expect(try store.value(forKey: Array("after-2".utf8)) == compressible)
            // The cursor reads the log the same way.
            var count = 0
            var cursor = try store.entries()
            while try cursor.next() != nil { count += 1 }
            #expect(count == 4)
            try store.close()
        }
    }

    @Test(arguments: [Store.Compression.none, .lz4])
    func recordsAfterACompressedBatchInASealedSegmentAreInItsHint(_ compression: Store.Compression) throws {
        try withScratchDirectory { directory in
            let configuration = TestStores.configuration(compression: compression, segmentSize: 64 << 10)
            var store = try Store(path: directory, configuration: configuration)
            let compressible = [UInt8](repeating: 9, count: 2_000)
            try store.write { batch in batch.set(compressible, forKey: Array("in-batch".utf8)) }
            try store.set([4], forKey: Array("after-batch".utf8))
            // Fill up and roll, so that the segment above is sealed and gets a hint file.
            var i = 0
            while try FileSurgery.segmentNames(in: directory).count < 3 {
                try store.set([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 3_000), forKey: Array("filler-\(i)".utf8))
                i += 1
            }
            try store.close()
            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            #expect(try store.value(forKey: Array("in-batch".utf8)) == compressible)
            #expect(try store.value(forKey: Array("after-batch".utf8)) == [4])
            let lost = try (0..<i).filter { j in
                try store.value(forKey: Array("filler-\(j)".utf8)) != [UInt8](repeating: UInt8(truncatingIfNeeded: j), count: 3_000)
            }
            #expect(lost.isEmpty, "\(lost.count) of \(i) keys written after the batch are lost or wrong")
            try store.close()
        }
    }

    /// A power loss can leave the newest segment without its header (it was created but never
    /// synced). Recovery removes it and continues in the segment before it.
    @Test func anUnwrittenNewestSegmentIsRemovedAndThePreviousOneContinued() throws {
        try withScratchDirectory { directory in
            let configuration = TestStores.configuration(segmentSize: 64 << 10)
            var store = try Store(path: directory, configuration: configuration)
            var i = 0
            while try FileSurgery.segmentNames(in: directory).count < 2 {
                try store.set([UInt8](repeating: 1, count: 1_000), forKey: Array("k\(i)".utf8))
                i += 1
            }
            try store.sync()
            store.simulateCrash()
            // The newest segment lost everything, header included.
            let newest = try FileSurgery.lastSegmentPath(in: directory)
            try FileSurgery.write([UInt8](repeating: 0, count: 4096), to: newest)

            store = try Self.reopenAfterReboot(directory, configuration)
            #expect(store.recoveryReport.removedEmptySegment)
            let segmentCount = try FileSurgery.segmentNames(in: directory).count
            #expect(!FileSurgery.exists(newest) || segmentCount == 2)
            for j in 0..<(i - 1) { #expect(try store.value(forKey: Array("k\(j)".utf8)) == [UInt8](repeating: 1, count: 1_000)) }
            // Writing continues.
            for j in 0..<200 { try store.set([UInt8(j % 256)], forKey: Array("new-\(j)".utf8)) }
            try store.close()
            store = try Store(path: directory, configuration: configuration)
            for j in 0..<200 { #expect(try store.value(forKey: Array("new-\(j)".utf8)) == [UInt8(j % 256)]) }
            try store.close()
        }
    }

    /// After a crash a sealed segment may have no hint file yet; opening queues one. Closing right
    /// away, without a write, must still return. (Run on a thread with a generous deadline, so that a
    /// hang fails this test instead of stalling the whole run.)
    @Test func closingRightAfterARecoveryThatQueuedHintsReturns() throws {
        try withScratchDirectory { directory in
            let configuration = TestStores.configuration(segmentSize: 64 << 10)
            let store = try Store(path: directory, configuration: configuration)
            var i = 0
            while try FileSurgery.segmentNames(in: directory).count < 3 {
                try store.set([UInt8](repeating: 2, count: 2_000), forKey: Array("k\(i)".utf8))
                i += 1
            }
            try store.close()
            for hint in try FileSurgery.hintNames(in: directory) { try FileSurgery.remove(directory + "/" + hint) }

            let finished = DispatchSemaphore(value: 0)
            let outcome = OutcomeBox()
            let thread = Thread {
                do {
                    let reopened = try Store(path: directory, configuration: configuration)
                    try reopened.close()
                    outcome.set("closed")
                } catch {
                    outcome.set("\(error)")
                }
                finished.signal()
            }
            thread.start()
            if finished.wait(timeout: .now() + 60) == .timedOut {
                Issue.record("open + close of a store whose sealed segments have no hint files did not return within 60 s (hang)")
                return  // the thread stays blocked; the directory is left behind
            }
            #expect(outcome.get() == "closed")
            #expect(try FileSurgery.hintNames(in: directory).count >= 1, "no hint file was written for the sealed segments")
        }
    }
}

/// A string shared with a helper thread.
final class OutcomeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    func set(_ text: String) { lock.lock(); value = text; lock.unlock() }
    func get() -> String { lock.lock(); defer { lock.unlock() }; return value }
}
