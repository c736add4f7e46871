@testable import KVStore
import Foundation
import Testing

/// Compaction never turns damage (of the index, or of a sealed segment) into loss or into a deleted
/// key coming back (issue 7, items 3 and 4).
@Suite("Reliability: compaction over damage")
struct CompactionDamageTests {
    static var configuration: Store.Configuration {
        var configuration = TestStores.configuration(segmentSize: 64 << 10)
        configuration.automaticCompaction = nil
        return configuration
    }

    static var everything: Store.CompactionOptions {
        var options = Store.CompactionOptions()
        options.minimumDeadRatio = 0.5
        options.minimumDeadBytes = 0
        return options
    }

    /// Zeros the one slot that points into segment 1 (the header stays clean and valid).
    static func zeroSlotPointingIntoFirstSegment(_ directory: String) throws {
        let path = directory + "/" + FileNames.index
        let bytes = try FileSurgery.read(path)
        var zeroed = 0
        var slot = IndexHeader.pageSize
        while slot + HashIndex.slotSize <= bytes.count {
            let hash = bytes[slot ..< slot + 8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            let word = bytes[slot + 8 ..< slot + 16].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            if hash > HashIndex.tombstoneHash && Location(word: UInt64(littleEndian: word)).segmentID == 1 {
                try FileSurgery.overwrite(path, at: slot, with: [UInt8](repeating: 0, count: HashIndex.slotSize))
                zeroed += 1
            }
            slot += HashIndex.slotSize
        }
        #expect(zeroed == 1)
    }

    /// `victim` (live) alone in segment 1, behind many dead overwrites of `junk`; its slot zeroed.
    static func storeWhoseLiveVictimLostItsSlot(_ directory: String) throws {
        let store = try Store(path: directory, configuration: configuration)
        try store.set([UInt8](repeating: 0x56, count: 100), forKey: "victim")
        for i in 0..<400 { try store.set([UInt8](repeating: UInt8(i % 256), count: 600), forKey: "junk") }
        try store.close()
        try zeroSlotPointingIntoFirstSegment(directory)
    }

    @Test func compactionKeepsASegmentWhoseLiveRecordLostItsIndexSlot() throws {
        try withScratchDirectory { directory in
            try Self.storeWhoseLiveVictimLostItsSlot(directory)
            var store: Store

            store = try Store(path: directory, configuration: Self.configuration)
            #expect(try store.value(forKey: "victim") == nil, "the damaged slot should hide the key")
            let report = try store.compact(Self.everything)
            let first = try #require(report.segments.first { $0.path.hasSuffix(FileNames.segment(1)) })
            #expect(!first.compacted, "\(first.reason)")
            #expect(first.reason.contains("not in the index"), "\(first.reason)")
            #expect(report.segmentsCompacted > 0, "the other dead segments should still be compacted")
            try store.close()

            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: Self.configuration)
            #expect(try store.value(forKey: "victim") == [UInt8](repeating: 0x56, count: 100), "compaction lost a live record")
            try store.close()
        }
    }

    @Test func recordsOfRemovedKeysAreStillCompactedAway() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory, configuration: Self.configuration)
            for i in 0..<300 { try store.set([UInt8](repeating: 1, count: 200), forKey: Array("gone \(i)".utf8)) }
            for i in 0..<300 { #expect(try store.removeValue(forKey: Array("gone \(i)".utf8))) }
            for i in 0..<300 { try store.set([UInt8](repeating: 2, count: 200), forKey: "filler \(i % 7)") }
            let report = try store.compact(Self.everything)
            let first = try #require(report.segments.first { $0.path.hasSuffix(FileNames.segment(1)) })
            #expect(first.compacted, "\(first.reason)")
            #expect(!FileSurgery.exists(directory + "/" + FileNames.segment(1)))
            for i in 0..<300 { #expect(try store.value(forKey: Array("gone \(i)".utf8)) == nil) }
            try store.close()
        }
    }

    @Test func compactionKeepsASealedSegmentWithZerosBeforeItsEnd() throws {
        try withScratchDirectory { directory in
            var store = try Store(path: directory, configuration: Self.configuration)
            try store.set("old value of K", forKey: "K")
            for i in 0..<50 { try store.set([UInt8](repeating: 3, count: 400), forKey: Array("live \(i)".utf8)) }
            for i in 0..<200 { try store.set([UInt8](repeating: UInt8(i % 256), count: 400), forKey: "junk") }
            #expect(try store.removeValue(forKey: "K"))
            for i in 0..<400 { try store.set([UInt8](repeating: UInt8(i % 256), count: 400), forKey: "junk") }
            try store.close()

            // Zero the whole record in front of the tombstone, from a record boundary.
            var tombstoneSegment: String? = nil
            for name in try FileSurgery.segmentNames(in: directory) {
                let records = try FileSurgery.records(inSegment: directory + "/" + name)
                if let i = records.firstIndex(where: { $0.header.kind == .delete }), i > 0 {
                    tombstoneSegment = name
                    try FileSurgery.overwrite(directory + "/" + name, at: records[i - 1].offset,
                                              with: [UInt8](repeating: 0, count: records[i].offset - records[i - 1].offset))
                }
            }
            let damaged = try #require(tombstoneSegment)
            #expect(damaged != FileNames.segment(1))

            store = try Store(path: directory, configuration: Self.configuration)
            let report = try store.compact(Self.everything)
            let entry = try #require(report.segments.first { $0.path.hasSuffix(damaged) })
            #expect(!entry.compacted && entry.reason.contains("zeros"), "\(entry.reason)")
            #expect(FileSurgery.exists(directory + "/" + damaged))
            try store.close()

            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: Self.configuration)
            #expect(try store.value(forKey: "K") == nil, "a removed key came back")
            try store.close()
        }
    }

    @Test func compactionLeavesSegmentsVerifyFoundProblemsIn() throws {
        try withScratchDirectory { directory in
            try Self.storeWhoseLiveVictimLostItsSlot(directory)
            var store: Store
            store = try Store(path: directory, configuration: Self.configuration)
            #expect(try !store.verify().isOK)
            let report = try store.compact(Self.everything)
            let first = try #require(report.segments.first { $0.path.hasSuffix(FileNames.segment(1)) })
            #expect(!first.compacted && first.reason.contains("verify"), "\(first.reason)")
            try store.close()
        }
    }
}
