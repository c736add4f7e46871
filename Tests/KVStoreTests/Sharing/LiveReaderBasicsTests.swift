@testable import KVStore
import Foundation
import Testing

/// A live reader and a writer of one store in this process: they share nothing in memory (the
/// reader opens its own files, exactly as another process's reader would), so these check the
/// protocol of FORMAT.md §12 step by step. The crash tests run it across real processes.
@Suite("Live readers")
struct LiveReaderBasicsTests {
    private func readerConfiguration() -> Store.Configuration {
        var configuration = Store.Configuration()
        configuration.readOnly = true
        return configuration
    }

    private func key(_ i: Int) -> [UInt8] { Array("key-\(i)".utf8) }
    private func value(_ i: Int, _ version: Int) -> [UInt8] { Array("value \(i) v\(version) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: i % 90) }

    @Test func readerSeesEveryWriteThatReturnedBeforeTheRead() throws {
        try withTemporaryDirectory { dir in
            let writer = try Store(path: dir, configuration: TestStores.configuration())
            try writer.set(value(0, 0), forKey: key(0))
            let reader = try Store(path: dir, configuration: readerConfiguration())
            for i in 0..<500 {
                try writer.set(value(i, 1), forKey: key(i))
                #expect(try reader.value(forKey: key(i)) == value(i, 1))
            }
            #expect(try writer.removeValue(forKey: key(3)))
            #expect(try reader.value(forKey: key(3)) == nil)
            try writer.write { batch in
                batch.set(value(7, 2), forKey: key(7))
                batch.removeValue(forKey: key(8))
            }
            #expect(try reader.value(forKey: key(7)) == value(7, 2))
            #expect(try reader.value(forKey: key(8)) == nil)
            #expect { try reader.set([1], forKey: [1]) } throws: { isKVError($0, .readOnly) }
            try writer.close()
            #expect(try reader.value(forKey: key(7)) == value(7, 2))
            #expect(try reader.access == .liveReader(writerProcessID: nil))
        }
    }

    @Test func readerFollowsTheIndexAcrossGrowthAndSegmentRolls() throws {
        try withTemporaryDirectory { dir in
            let writer = try Store(path: dir, configuration: TestStores.configuration())
            let reader = try Store(path: dir, configuration: readerConfiguration())
            let firstIndex = try reader.engine.views.get().index
            for i in 0..<5000 {
                try writer.set(value(i, 0), forKey: key(i))
                if i % 97 == 0 { #expect(try reader.value(forKey: key(i)) == value(i, 0)) }
            }
            #expect(firstIndex.replacedToken != 0)
            for i in 0..<5000 { #expect(try reader.value(forKey: key(i)) == value(i, 0)) }
            #expect(try reader.engine.views.get().index !== firstIndex)
            #expect(try reader.statistics.keys == 5000)
            #expect(try reader.statistics.segments == writer.statistics.segments)
            try writer.close()
        }
    }

    @Test func readerFindsKeysWhoseSegmentCompactionDeletedBeforeTheReaderOpenedIt() throws {
        try withTemporaryDirectory { dir in
            var configuration = TestStores.configuration()
            configuration.automaticCompaction = nil
            let writer = try Store(path: dir, configuration: configuration)
            for i in 0..<3000 { try writer.set(value(i, 0), forKey: key(i)) }
            let reader = try Store(path: dir, configuration: readerConfiguration())
            // Most keys die, so the early segments are compacted and deleted; the reader has not
            // read from any of them.
            for i in 0..<3000 where i % 10 != 0 { try writer.set(value(i, 1), forKey: key(i)) }
            for i in 0..<3000 where i % 10 != 0 { #expect(try writer.removeValue(forKey: key(i))) }
            var options = Store.CompactionOptions()
            options.minimumDeadBytes = 0
            let report = try writer.compact(options)
            #expect(report.segments.contains { $0.compacted })
            for i in 0..<3000 {
                #expect(try reader.value(forKey: key(i)) == (i % 10 == 0 ? value(i, 0) : nil))
            }
            var seen = 0
            var cursor = try reader.entries()
            while let (k, v) = try cursor.next() {
                seen += 1
                #expect(k.count > 4 && v.count > 0)
            }
            #expect(seen == 300)
            try writer.close()
        }
    }

    @Test func snapshotReaderMovesOverWhenAWriterOpens() throws {
        try withTemporaryDirectory { dir in
            let crashed = try Store(path: dir, configuration: TestStores.configuration())
            for i in 0..<100 { try crashed.set(value(i, 0), forKey: key(i)) }
            crashed.engine.simulateCrash()
            let reader = try Store(path: dir, configuration: readerConfiguration())
            #expect(reader.recoveryReport.indexTrust == .rebuilt)
            #expect(try reader.access == .snapshotReader)
            #expect(try reader.value(forKey: key(5)) == value(5, 0))
            let writer = try Store(path: dir, configuration: TestStores.configuration())
            try writer.set(value(5, 1), forKey: key(5))
            try writer.set(value(200, 0), forKey: key(200))
            #expect(try reader.value(forKey: key(5)) == value(5, 1))
            #expect(try reader.value(forKey: key(200)) == value(200, 0))
            #expect(try reader.access == .liveReader(writerProcessID: getpid()))
            try writer.close()
        }
    }

    @Test func readersNeverKeepAWriterOutAndASecondWriterIsStillLocked() throws {
        try withTemporaryDirectory { dir in
            let first = try Store(path: dir, configuration: TestStores.configuration())
            try first.set([1], forKey: [1])
            try first.close()
            let readers = try (0..<3).map { _ in try Store(path: dir, configuration: readerConfiguration()) }
            let writer = try Store(path: dir, configuration: TestStores.configuration())
            #expect { try Store(path: dir, configuration: TestStores.configuration()) } throws: { error in
                guard let error = error as? KVError, error.code == .locked else { return false }
                return error.message.contains("already open in this process")
            }
            try writer.set([2], forKey: [1])
            for reader in readers { #expect(try reader.value(forKey: [1]) == [2]) }
            try writer.close()
            let again = try Store(path: dir, configuration: TestStores.configuration())
            try again.close()
        }
    }

    /// Stores `word` at `offset` of the store's index file, as a writer's `pwrite` or mapped store would.
    private func poke(_ dir: String, offset: UInt64, _ word: UInt64) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/index"))
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: withUnsafeBytes(of: word.littleEndian) { Data($0) })
        try handle.close()
    }

    @Test func aMarkLeftByAWriterKilledBetweenMarkAndRenameKeepsTheIndexReadable() throws {
        try withTemporaryDirectory { dir in
            let writer = try Store(path: dir, configuration: TestStores.configuration())
            let reader = try Store(path: dir, configuration: readerConfiguration())
            for i in 0..<100 { try writer.set(value(i, 0), forKey: key(i)) }
            try poke(dir, offset: UInt64(IndexHeader.replaced), 0xfeed)
            writer.engine.simulateCrash()
            for i in 0..<100 { #expect(try reader.value(forKey: key(i)) == value(i, 0)) }
            #expect(try reader.engine.views.get().acceptedMark == 0xfeed)
            #expect(try reader.access == .liveReader(writerProcessID: nil))
            let next = try Store(path: dir, configuration: TestStores.configuration())
            #expect(try next.engine.views.get().index.replacedToken == 0)
            try next.set(value(1, 1), forKey: key(1))
            #expect(try reader.value(forKey: key(1)) == value(1, 1))
            #expect(try reader.engine.views.get().acceptedMark == 0)
            try next.close()
        }
    }

    @Test func aBatchHalfAppliedByAWriterThatDiedIsNotReadFromItsIndex() throws {
        try withTemporaryDirectory { dir in
            let writer = try Store(path: dir, configuration: TestStores.configuration())
            let reader = try Store(path: dir, configuration: readerConfiguration())
            for i in 0..<10 { try writer.set(value(i, 0), forKey: key(i)) }
            let index = try reader.engine.views.get().index
            let hash = key(2).withUnsafeBytes { reader.engine.hasher.hash($0) }
            let (slot, before) = try #require(index.probe(hash: hash) { s, word -> (Int, UInt64)? in (s, word) })
            let batchStart = index.covered
            try writer.write { batch in
                batch.set(value(1, 1), forKey: key(1))
                batch.set(value(2, 1), forKey: key(2))
            }
            writer.engine.simulateCrash()
            // What the index holds when its writer is killed half way through applying the batch:
            // the first member's slot changed, the second's not yet, the batch named in the header,
            // `covered` still before it.
            try poke(dir, offset: UInt64(IndexHeader.pageSize + slot * HashIndex.slotSize + 8), before)
            try poke(dir, offset: UInt64(IndexHeader.applying), batchStart.word)
            try poke(dir, offset: UInt64(IndexHeader.covered), batchStart.word)
            #expect(try reader.value(forKey: key(1)) == value(1, 1))
            #expect(try reader.value(forKey: key(2)) == value(2, 1))
            #expect(try reader.access == .snapshotReader)
            let next = try Store(path: dir, configuration: TestStores.configuration())
            #expect(try next.engine.views.get().index.applyingBatch == 0)
            #expect(try next.value(forKey: key(2)) == value(2, 1))
            try next.set(value(3, 2), forKey: key(3))
            #expect(try reader.value(forKey: key(3)) == value(3, 2))
            #expect(try reader.access == .liveReader(writerProcessID: getpid()))
            try next.close()
        }
    }
}

@Suite("Statistics beside compaction")
struct StatisticsBesideCompactionTests {
    /// Compaction deletes a segment's file after a caller of `statistics` took its view of the
    /// segments (automatic compaction runs on its own thread): the count leaves it out instead of
    /// failing with ENOENT. Found by a writer child whose `statistics` met automatic compaction.
    @Test func statisticsLeaveOutASegmentDeletedAfterTheViewWasTaken() throws {
        try withTemporaryDirectory { dir in
            var configuration = TestStores.configuration()
            configuration.automaticCompaction = nil
            configuration.maximumOpenFiles = 4
            let store = try Store(path: dir, configuration: configuration)
            for i in 0..<4000 { try store.set([UInt8](repeating: UInt8(i % 200), count: 80), forKey: Array("key-\(i)".utf8)) }
            let before = try store.statistics.segments
            #expect(before > 6)
            // What compaction's unlink does, without the view knowing yet; a segment whose
            // descriptor is not cached (the limit is 4), so it would be opened by its path.
            let victim = try #require(store.engine.views.get().segments.all.first)
            try FileManager.default.removeItem(atPath: victim.path)
            store.engine.descriptors.drop([victim.id])
            #expect(try store.statistics.segments == before - 1)
            store.engine.simulateCrash()
        }
    }
}
