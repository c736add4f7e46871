@testable import KVStore
import Foundation
import Testing

/// The one reader of the log and its stop rule (FORMAT.md §6), one named test per edge case, in the
/// style of leveldb's `db/log_test.cc`: what a stop means depends on the segment's role and the
/// caller's purpose, and nothing else.
@Suite("Segment: the log reader")
struct LogReaderTests {
    /// A segment of `count` puts (plus, optionally, one two-member batch first), as a closed store
    /// leaves it: truncated to its records. Returns the path and the records' offsets.
    static func segment(in directory: String, count: Int = 20, batchFirst: Bool = false) throws -> (path: String, records: [ParsedRecord]) {
        var configuration = TestStores.configuration(segmentSize: 1 << 20)
        configuration.automaticCompaction = nil
        let store = try Store(path: directory, configuration: configuration)
        if batchFirst {
            try store.write { $0.set("one", forKey: "batch-a"); $0.set("two", forKey: "batch-b") }
        }
        for i in 0..<count { try store.set(Array(repeating: UInt8(i), count: 40 + i), forKey: Array("key \(i)".utf8)) }
        try store.close()
        let path = directory + "/" + FileNames.segment(1)
        return (path, try FileSurgery.records(inSegment: path))
    }

    enum Seen: Equatable {
        case record(offset: Int)
        case skipped(offset: Int, length: Int)
        case stop(LogReader.Stop)
    }

    /// Every event of a read, records by offset only.
    static func read(_ path: String, role: LogReader.Role, purpose: LogReader.Purpose) throws -> [Seen] {
        let file = SegmentFile(id: 1, path: path, descriptors: DescriptorCache(limit: 4))
        var reader = try LogReader(file: file, role: role, purpose: purpose)
        var seen: [Seen] = []
        while true {
            switch try reader.next() {
            case .record(let r): seen.append(.record(offset: r.offset))
            case .skipped(let offset, let length, _): seen.append(.skipped(offset: offset, length: length))
            case .stop(let stop):
                seen.append(.stop(stop))
                return seen
            }
        }
    }

    static func stop(_ seen: [Seen]) -> LogReader.Stop? {
        if case .stop(let stop) = seen.last { return stop }
        return nil
    }

    static func recordCount(_ seen: [Seen]) -> Int {
        seen.filter { if case .record = $0 { true } else { false } }.count
    }

    @Test func wholeSealedSegmentEndsCleanlyAtItsSize() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            for role in [LogReader.Role.sealed(hinted: true), .sealed(hinted: false)] {
                let seen = try Self.read(path, role: role, purpose: .recover(afterPowerLoss: true))
                #expect(Self.recordCount(seen) == records.count)
                #expect(Self.stop(seen) == .end(offset: try FileSurgery.size(path)))
            }
        }
    }

    @Test func zerosAfterTheLastRecordEndTheActiveLog() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let size = try FileSurgery.size(path)
            try FileSurgery.overwrite(path, at: size, with: [UInt8](repeating: 0, count: 64 << 10))
            let seen = try Self.read(path, role: .active(end: nil), purpose: .recover(afterPowerLoss: true))
            #expect(Self.recordCount(seen) == records.count)
            #expect(Self.stop(seen) == .end(offset: size))
        }
    }

    @Test func recordCutShortAtTheEndOfTheActiveSegmentIsATornTail() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let last = try #require(records.last)
            try FileSurgery.truncate(path, to: last.offset + 20)
            let seen = try Self.read(path, role: .active(end: nil), purpose: .recover(afterPowerLoss: false))
            #expect(Self.recordCount(seen) == records.count - 1)
            guard case .tornTail(let offset, _) = Self.stop(seen) else { Issue.record("\(seen.last!)"); return }
            #expect(offset == last.offset)
        }
    }

    @Test func theSameCutRecordInASealedSegmentIsDamage() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let last = try #require(records.last)
            try FileSurgery.truncate(path, to: last.offset + 20)
            let seen = try Self.read(path, role: .sealed(hinted: true), purpose: .recover(afterPowerLoss: true))
            guard case .damage(let offset, _) = Self.stop(seen) else { Issue.record("\(seen.last!)"); return }
            #expect(offset == last.offset)
        }
    }

    @Test func zerosBeforeTheEndOfAHintedSealedSegmentAreDamage() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let victim = records[5]
            try FileSurgery.overwrite(path, at: victim.offset, with: [UInt8](repeating: 0, count: records[6].offset - victim.offset))
            let seen = try Self.read(path, role: .sealed(hinted: true), purpose: .recover(afterPowerLoss: true))
            #expect(Self.recordCount(seen) == 5)
            #expect(Self.stop(seen) == .damage(offset: victim.offset, reason: LogReader.zerosReason))
        }
    }

    @Test func earlyEndOfASealedSegmentWithoutAHintIsWhereAPowerLossCutTheHistory() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let victim = records[5]
            try FileSurgery.overwrite(path, at: victim.offset, with: [UInt8](repeating: 0, count: records[6].offset - victim.offset))
            let rebuild = try Self.read(path, role: .sealed(hinted: false), purpose: .recover(afterPowerLoss: true))
            #expect(Self.stop(rebuild) == .cut(offset: victim.offset, reason: LogReader.zerosReason))
            // The same bytes, read by a replay after a process crash (no power loss), are damage.
            let replay = try Self.read(path, role: .sealed(hinted: false), purpose: .recover(afterPowerLoss: false))
            #expect(Self.stop(replay) == .damage(offset: victim.offset, reason: LogReader.zerosReason))
        }
    }

    @Test func zerosBeforeTheWritersKnownEndAreDamage() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let size = try FileSurgery.size(path)
            try FileSurgery.overwrite(path, at: records[3].offset, with: [UInt8](repeating: 0, count: 8))
            let seen = try Self.read(path, role: .active(end: size), purpose: .inspect(resynchronize: false))
            #expect(Self.stop(seen) == .damage(offset: records[3].offset, reason: LogReader.zerosReason))
        }
    }

    @Test func checksumMismatchInASealedSegmentIsDamage() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            try FileSurgery.xor(path, at: records[7].offset + RecordHeader.size + 2)
            let seen = try Self.read(path, role: .sealed(hinted: true), purpose: .inspect(resynchronize: false))
            #expect(Self.stop(seen) == .damage(offset: records[7].offset, reason: "checksum mismatch"))
            #expect(Self.recordCount(seen) == 7)
        }
    }

    @Test func resynchronizingSkipsExactlyTheDamagedRecordAndReadsTheRest() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            try FileSurgery.xor(path, at: records[7].offset + RecordHeader.size + 2)
            let seen = try Self.read(path, role: .sealed(hinted: true), purpose: .inspect(resynchronize: true))
            #expect(seen.contains(.skipped(offset: records[7].offset, length: records[8].offset - records[7].offset)))
            #expect(Self.recordCount(seen) == records.count - 1)
            #expect(Self.stop(seen) == .end(offset: try FileSurgery.size(path)))
        }
    }

    @Test func damageThatRunsToTheEndIsTheStopWhenResynchronizing() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let last = try #require(records.last)
            try FileSurgery.xor(path, at: last.offset + RecordHeader.size + 1)
            let seen = try Self.read(path, role: .sealed(hinted: true), purpose: .inspect(resynchronize: true))
            #expect(Self.stop(seen) == .damage(offset: last.offset, reason: "checksum mismatch"))
            #expect(Self.recordCount(seen) == records.count - 1)
        }
    }

    @Test func batchCountExceedingItsMembersIsInvalid() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory, count: 0, batchFirst: true)
            let batch = try #require(records.first)
            #expect(batch.header.kind == .batch)
            // Claim three members where two follow, with a checksum that matches the claim.
            var bytes = try FileSurgery.read(path)
            bytes.withUnsafeMutableBytes { raw in
                let p = raw.baseAddress! + batch.offset
                p.storeLE(UInt32(3), at: RecordHeader.size)
                p.storeLE(CRC32C.checksum(p + 4, count: batch.length - 4), at: 0)
            }
            try FileSurgery.write(bytes, to: path)
            let active = try Self.read(path, role: .active(end: nil), purpose: .recover(afterPowerLoss: false))
            #expect(Self.recordCount(active) == 0, "a member of an incomplete batch was returned")
            #expect(Self.stop(active) == .tornTail(offset: batch.offset, reason: "incomplete batch"))
            let sealed = try Self.read(path, role: .sealed(hinted: true), purpose: .recover(afterPowerLoss: true))
            #expect(Self.stop(sealed) == .damage(offset: batch.offset, reason: "incomplete batch"))
        }
    }

    @Test func aFileReadOnItsOwnEndsAtZerosThatNoRecordFollows() throws {
        try withScratchDirectory { directory in
            let (path, records) = try Self.segment(in: directory)
            let size = try FileSurgery.size(path)
            try FileSurgery.overwrite(path, at: size, with: [UInt8](repeating: 0, count: 4096))
            let tail = try Self.read(path, role: .standalone, purpose: .inspect(resynchronize: true))
            #expect(Self.recordCount(tail) == records.count)
            #expect(Self.stop(tail) == .end(offset: size))
            // Zeros with whole records after them are damage, gone past.
            try FileSurgery.overwrite(path, at: records[4].offset, with: [UInt8](repeating: 0, count: records[5].offset - records[4].offset))
            let hole = try Self.read(path, role: .standalone, purpose: .inspect(resynchronize: true))
            #expect(hole.contains(.skipped(offset: records[4].offset, length: records[5].offset - records[4].offset)))
            #expect(Self.recordCount(hole) == records.count - 1)
        }
    }

    @Test func theRuleIsOneTableOfRoleAndPurpose() {
        typealias R = LogReader
        #expect(R.verdict(role: .active(end: nil), purpose: .recover(afterPowerLoss: true), zeros: true) == .end)
        #expect(R.verdict(role: .active(end: nil), purpose: .recover(afterPowerLoss: false), zeros: false) == .tornTail)
        #expect(R.verdict(role: .sealed(hinted: false), purpose: .recover(afterPowerLoss: true), zeros: true) == .cut)
        #expect(R.verdict(role: .sealed(hinted: false), purpose: .recover(afterPowerLoss: false), zeros: true) == .damage)
        #expect(R.verdict(role: .sealed(hinted: true), purpose: .recover(afterPowerLoss: true), zeros: false) == .damage)
        #expect(R.verdict(role: .active(end: 100), purpose: .inspect(resynchronize: true), zeros: true) == .resynchronize)
        #expect(R.verdict(role: .sealed(hinted: true), purpose: .inspect(resynchronize: false), zeros: true) == .damage)
        #expect(R.verdict(role: .standalone, purpose: .inspect(resynchronize: true), zeros: true) == .endUnlessARecordFollows)
        #expect(R.verdict(role: .standalone, purpose: .inspect(resynchronize: true), zeros: false) == .resynchronize)
    }

    @Test func membersOfAWholeBatchAreReadAsRecords() throws {
        try withScratchDirectory { directory in
            let (path, _) = try Self.segment(in: directory, count: 3, batchFirst: true)
            let file = SegmentFile(id: 1, path: path, descriptors: DescriptorCache(limit: 4))
            var reader = try LogReader(file: file, role: .sealed(hinted: true), purpose: .recover(afterPowerLoss: false))
            var inBatch: [Bool] = []
            while case .record(let r) = try reader.next() { inBatch.append(r.inBatch) }
            #expect(inBatch == [true, true, false, false, false])
        }
    }
}
