@testable import KVStore
import Foundation
import Testing

/// Opening and closing a store, growing its index and rolling segments must give back every file
/// descriptor: a process that reopens a store often (or a test suite that reopens thousands of
/// times) must not run out, and an index file replaced by growth must not stay allocated on disk.
@Suite("Store: descriptors")
struct DescriptorLeakTests {
    @Test func reopeningAStoreDoesNotLeakDescriptors() throws {
        try withScratchDirectory { directory in
            let path = directory + "/store"
            let configuration = TestStores.configuration()
            // Warm up once: the first open creates the store and may start lazily created machinery.
            var store = try Store(path: path, configuration: configuration)
            try store.set([1], forKey: [1])
            try store.close()
            let before = FileSurgery.openDescriptorCount(under: directory)
            for i in 0..<50 {
                store = try Store(path: path, configuration: configuration)
                try store.set([UInt8(i)], forKey: [1])
                try store.close()
            }
            let after = FileSurgery.openDescriptorCount(under: directory)
            #expect(after == before, "open descriptors on the store went from \(before) to \(after) over 50 open/close cycles")
        }
    }

    @Test func indexGrowthDoesNotLeakDescriptors() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory + "/store", configuration: TestStores.configuration())
            try store.set([0], forKey: [0])
            let before = FileSurgery.openDescriptorCount(under: directory)
            let capacityBefore = try store.statistics.indexCapacity
            for i in 0..<40_000 { try store.set([UInt8(truncatingIfNeeded: i)], forKey: Array("k\(i)".utf8)) }
            let capacityAfter = try store.statistics.indexCapacity
            let after = FileSurgery.openDescriptorCount(under: directory)
            #expect(capacityAfter > capacityBefore * 8, "the index did not grow several times")
            // Segments rolled too (40,000 records of ~48 bytes in 64 KiB segments: ~30 segments, all open by design).
            let segments = try store.statistics.segments
            // Exactly: one per segment, the index, the lock; nothing left of the replaced indexes.
            #expect(after - before <= segments + 2, "open descriptors went from \(before) to \(after) with \(segments) segments")
            try store.close()
        }
    }
}
