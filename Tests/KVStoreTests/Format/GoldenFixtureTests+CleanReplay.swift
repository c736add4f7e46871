@testable import KVStore
import Foundation
import Testing

/// FORMAT.md §6, open case 2: a clean index whose `covered` is behind the end of the active segment
/// is replayed from `covered`, on the fixture store.
extension GoldenFixtureTests {
    /// The fixture with one more put ("added" = "new") appended to its active segment, and the
    /// fixture's own clean index put back, so that the index covers everything but that record.
    /// Returns the offset of the appended record and the segment's size.
    static func fixtureWithARecordBehindACleanIndex(_ directory: String) throws -> (offset: Int, size: Int) {
        try FileSurgery.copyDirectory(fixtureDirectory(), to: directory)
        let cleanIndex = try FileSurgery.read(directory + "/" + FileNames.index)
        let offset = try FileSurgery.size(directory + "/" + FileNames.segment(2))
        let store = try Store(path: directory, configuration: fixtureConfiguration)
        try store.set("new", forKey: "added")
        try store.close()
        try FileSurgery.write(cleanIndex, to: directory + "/" + FileNames.index)
        let records = try FileSurgery.records(inSegment: directory + "/" + FileNames.segment(2))
        #expect(records.last?.offset == offset && records.last?.key == Array("added".utf8))
        return (offset, try FileSurgery.size(directory + "/" + FileNames.segment(2)))
    }

    @Test func cleanIndexBehindTheEndOfTheActiveSegmentIsReplayedFromCovered() throws {
        try withScratchDirectory { directory in
            _ = try Self.fixtureWithARecordBehindACleanIndex(directory)
            let before = try FileSurgery.snapshot(directory)
            // Read-only: not replayed, rebuilt outside the store; nothing changes.
            var store = try Store(path: directory, configuration: Self.readOnlyConfiguration())
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            #expect(try store.value(forKey: "added") == Array("new".utf8))
            try store.close()
            #expect(try FileSurgery.snapshot(directory) == before)
            // Writable: the index is kept and the one record after `covered` applied to it.
            store = try Store(path: directory, configuration: Self.fixtureConfiguration)
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(store.recoveryReport.replayedRecords == 1)
            #expect(store.recoveryReport.droppedTailBytes == 0)
            #expect(store.recoveryReport.problems.isEmpty)
            #expect(try store.value(forKey: "added") == Array("new".utf8))
            for (key, value) in Self.expectedPairs { #expect(try store.value(forKey: key) == value, "\(key)") }
            #expect(try store.statistics.keys == Self.expectedPairs.count + 1)
            try store.close()
        }
    }

    @Test func tornRecordAfterACleanIndexsCoveredIsWipedToTheEndOfTheFile() throws {
        try withScratchDirectory { directory in
            let (offset, size) = try Self.fixtureWithARecordBehindACleanIndex(directory)
            // Damage the appended record (its key): invalid, so a torn tail of the active segment.
            try FileSurgery.xor(directory + "/" + FileNames.segment(2), at: offset + RecordHeader.size)
            let store = try Store(path: directory, configuration: Self.fixtureConfiguration)
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(store.recoveryReport.replayedRecords == 0)
            #expect(store.recoveryReport.droppedTailBytes == size - offset)
            #expect(store.recoveryReport.problems.isEmpty)
            #expect(try store.value(forKey: "added") == nil)
            try Self.expectFixtureContents(store)
            try store.close()
            // The closed segment is the fixture's again: the torn record was wiped, not kept.
            let fixture = try Self.fixtureDirectory()
            #expect(try FileSurgery.read(directory + "/" + FileNames.segment(2)) == FileSurgery.read(fixture + "/" + FileNames.segment(2)))
        }
    }
}
