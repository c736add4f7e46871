@testable import KVStore
import Foundation
import Synchronization
import Testing

/// `Store.backup(to:)`: a consistent copy of a live store, linked where it can be, and updated
/// incrementally (FORMAT.md §14).
@Suite("Backup")
struct BackupTests {
    static func configuration(segmentSize: Int = 64 << 10) -> Store.Configuration {
        var c = Store.Configuration()
        c.segmentSize = segmentSize
        c.automaticCompaction = nil
        return c
    }

    static func key(_ i: Int) -> String { "key-\(i)" }
    static func value(_ i: Int, round: Int = 0) -> [UInt8] { Array("value \(i) of round \(round) ".utf8) + [UInt8](repeating: UInt8(i & 0xFF), count: 40) }

    /// Every key of `expected` reads back from the store at `path`, and no other key is there.
    static func expectContents(_ path: String, _ expected: [String: [UInt8]], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let store = try Store(path: path, configuration: configuration())
        defer { try? store.close() }
        var seen = 0
        var cursor = try store.entries()
        while let (key, value) = try cursor.next() {
            let k = String(decoding: key, as: UTF8.self)
            #expect(expected[k] == value, "key \(k)", sourceLocation: sourceLocation)
            seen += 1
        }
        #expect(seen == expected.count, sourceLocation: sourceLocation)
        let verification = try store.verify()
        #expect(verification.problems.isEmpty, "\(verification.problems)", sourceLocation: sourceLocation)
    }

    static func files(_ path: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    @Test func backupHoldsEveryKeyAndOpensAsAStore() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            var model: [String: [UInt8]] = [:]
            for i in 0..<3_000 { try store.set(Self.value(i), forKey: Self.key(i)); model[Self.key(i)] = Self.value(i) }
            for i in stride(from: 0, to: 3_000, by: 7) { try store.removeValue(forKey: Self.key(i)); model[Self.key(i)] = nil }
            let report = try store.backup(to: dir + "/b")
            #expect(!report.incremental)
            #expect(report.index == .copied)
            #expect(report.filesLinked > 2, "sealed segments and their hints are linked: \(report)")
            #expect(report.bytesCopied < 64 << 10 + 4 << 20, "only the end of the log and the index are copied: \(report)")
            try store.close()
            try Self.expectContents(dir + "/b", model)
            // The source is untouched by the backup's open.
            try Self.expectContents(dir + "/s", model)
            #expect(!FileManager.default.fileExists(atPath: dir + "/.b.kvbackup"), "the staging directory is gone")
        }
    }

    @Test func backupOpensWithoutReadingTheLog() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            for i in 0..<2_000 { try store.set(Self.value(i), forKey: Self.key(i)) }
            try store.backup(to: dir + "/b")
            let backup = try Store(path: dir + "/b", configuration: Self.configuration())
            #expect(backup.recoveryReport.indexTrust == .clean)
            #expect(backup.recoveryReport.replayedRecords == 0)
            try backup.close()
            try store.close()
        }
    }

    @Test func incrementalBackupKeepsWhatDidNotChangeAndAddsTheRest() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            var model: [String: [UInt8]] = [:]
            for i in 0..<4_000 { try store.set(Self.value(i), forKey: Self.key(i)); model[Self.key(i)] = Self.value(i) }
            let first = try store.backup(to: dir + "/b")
            let sealedBefore = try Self.files(dir + "/b").filter { $0.hasSuffix(".seg") }.count - 1
            var written = 0
            for i in stride(from: 0, to: 4_000, by: 10) {
                let v = Self.value(i, round: 1)
                try store.set(v, forKey: Self.key(i)); model[Self.key(i)] = v
                written += 32 + Self.key(i).utf8.count + v.count
            }
            let second = try store.backup(to: dir + "/b")
            #expect(second.incremental)
            #expect(second.index == .updated, "the earlier index is brought forward: \(second)")
            #expect(second.filesKept >= sealedBefore, "every sealed segment of the first backup is kept: \(second)")
            #expect(second.segmentsAdded >= 1)
            #expect(second.sequence > first.sequence)
            #expect(second.bytesCopied <= Int64(written) * 13 / 10 + 4096, "copied \(second.bytesCopied) for \(written) written")
            try store.close()
            try Self.expectContents(dir + "/b", model)
        }
    }

    /// Badger's zombie (dgraph-io/badger#521): a key removed after a backup, whose value and
    /// tombstone compaction then dropped from the store, must not come back in the next backup.
    @Test func keyRemovedBeforeCompactionStaysRemovedInAnIncrementalBackup() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            var model: [String: [UInt8]] = [:]
            try store.set(Array("doomed".utf8), forKey: "doomed")
            for i in 0..<1_000 { try store.set(Self.value(i), forKey: Self.key(i)); model[Self.key(i)] = Self.value(i) }
            try store.backup(to: dir + "/b")
            // Keys that stay: the segment after the backup's end stays live, so the next backup
            // can tell that the store continues the same history.
            for i in 0..<800 { let k = "keeper-\(i)"; try store.set(Self.value(i), forKey: k); model[k] = Self.value(i) }
            try store.removeValue(forKey: "doomed")
            let tombstoneSegment = try store.engine.logEnd().segmentID
            // Everything else dies: the segments with the value and the tombstone are all dead.
            for round in 1...3 {
                for i in 0..<1_000 { let v = Self.value(i, round: round); try store.set(v, forKey: Self.key(i)); model[Self.key(i)] = v }
            }
            try store.sync()
            var options = Store.CompactionOptions()
            options.minimumDeadRatio = 0.5
            options.minimumDeadBytes = 1
            let compaction = try store.compact(options)
            #expect(compaction.segmentsCompacted > 0)
            #expect(!FileManager.default.fileExists(atPath: dir + "/s/" + FileNames.segment(tombstoneSegment)),
                    "the tombstone's segment was compacted away")
            let second = try store.backup(to: dir + "/b")
            #expect(second.index == .updated, "\(second)")
            #expect(second.segmentsDropped > 0, "segments compaction retired leave the backup: \(second)")
            try store.close()
            let backup = try Store(path: dir + "/b", configuration: Self.configuration())
            #expect(try backup.value(forKey: "doomed") == nil)
            let report = try backup.verify()
            #expect(report.problems.isEmpty, "\(report.problems)")
            try backup.close()
            try Self.expectContents(dir + "/b", model)
        }
    }

    /// The same with the tombstone gone too: compaction took every segment older than it, so it
    /// was dropped (no byte of the key is left in the store), and the earlier backup's end with it.
    @Test func keyWhoseTombstoneCompactionDroppedStaysRemovedInTheNextBackup() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            var model: [String: [UInt8]] = [:]
            try store.set(Array("doomed".utf8), forKey: "doomed")
            for i in 0..<1_000 { try store.set(Self.value(i), forKey: Self.key(i)); model[Self.key(i)] = Self.value(i) }
            try store.backup(to: dir + "/b")
            try store.removeValue(forKey: "doomed")
            for round in 1...3 {
                for i in 0..<1_000 { let v = Self.value(i, round: round); try store.set(v, forKey: Self.key(i)); model[Self.key(i)] = v }
            }
            try store.sync()
            var options = Store.CompactionOptions()
            options.minimumDeadRatio = 0.01
            options.minimumDeadBytes = 1
            _ = try store.compact(options)
            _ = try store.compact(options)
            for name in try Self.files(dir + "/s") where name.hasSuffix(".seg") {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/s/" + name))
                #expect(bytes.range(of: Data("doomed".utf8)) == nil, "no record of the key is left in \(name)")
            }
            let second = try store.backup(to: dir + "/b")
            #expect(second.incremental)
            try store.close()
            let backup = try Store(path: dir + "/b", configuration: Self.configuration())
            #expect(try backup.value(forKey: "doomed") == nil)
            try backup.close()
            try Self.expectContents(dir + "/b", model)
        }
    }

    /// A segment file with another name (a backup's hard link) is copied before recovery
    /// continues it: the other name keeps its bytes, whatever the store writes next.
    @Test func recoveryNeverWritesIntoASegmentWithAnotherName() throws {
        try withTemporaryDirectory { dir in
            var store: Store? = try Store(path: dir + "/s", configuration: Self.configuration())
            for i in 0..<200 { try store!.set(Self.value(i), forKey: Self.key(i)) }
            store!.simulateCrash()
            store = nil
            let last = try Self.files(dir + "/s").filter { $0.hasSuffix(".seg") }.last!
            try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
            try FileManager.default.linkItem(atPath: dir + "/s/" + last, toPath: dir + "/other/" + last)
            let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/other/" + last))
            let reopened = try Store(path: dir + "/s", configuration: Self.configuration())
            for i in 0..<200 { try reopened.set(Self.value(i, round: 1), forKey: Self.key(i)) }
            try reopened.close()
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/other/" + last)) == before, "the other name's bytes are unchanged")
            let links = try FileManager.default.attributesOfItem(atPath: dir + "/s/" + last)[.referenceCount] as? Int
            #expect(links == 1, "the store's segment is a file of its own")
            #expect(try Store(path: dir + "/s", configuration: Self.configuration()).value(forKey: Self.key(7)) == Self.value(7, round: 1))
        }
    }

    @Test func backupAcrossFileSystemsCopiesEveryFile() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            var model: [String: [UInt8]] = [:]
            for i in 0..<3_000 { try store.set(Self.value(i), forKey: Self.key(i)); model[Self.key(i)] = Self.value(i) }
            let report = try withSystemHooks(directory: dir + "/.b.kvbackup", injector: { call, _ in call == .link ? EXDEV : nil }) {
                try store.backup(to: dir + "/b")
            }
            #expect(report.filesLinked == 0)
            #expect(report.filesCopied > 3)
            let sizes = try Self.files(dir + "/s").filter { $0.hasSuffix(".seg") || $0.hasSuffix(".hint") }.dropLast()
            #expect(!sizes.isEmpty)
            try store.close()
            try Self.expectContents(dir + "/b", model)
            // An incremental update across file systems keeps the earlier copies instead of copying again.
            let store2 = try Store(path: dir + "/s", configuration: Self.configuration())
            try store2.set(Array("x".utf8), forKey: "new")
            model["new"] = Array("x".utf8)
            let again = try withSystemHooks(directory: dir + "/.b.kvbackup", injector: { call, path in
                call == .link && !(path ?? "").isEmpty && !FileManager.default.fileExists(atPath: dir + "/b/" + ((path ?? "") as NSString).lastPathComponent) ? EXDEV : nil
            }) { try store2.backup(to: dir + "/b") }
            #expect(again.filesKept > 3, "\(again)")
            #expect(again.bytesCopied < 64 << 10 + 1 << 20, "\(again)")
            try store2.close()
            try Self.expectContents(dir + "/b", model)
        }
    }

    @Test func targetThatIsAnotherStoresBackupIsRefusedUnchanged() throws {
        try withTemporaryDirectory { dir in
            let a = try Store(path: dir + "/a", configuration: Self.configuration())
            let b = try Store(path: dir + "/b", configuration: Self.configuration())
            try a.set(Array("1".utf8), forKey: "a")
            try b.set(Array("2".utf8), forKey: "b")
            try a.backup(to: dir + "/backup")
            let before = try Self.files(dir + "/backup")
            #expect { try b.backup(to: dir + "/backup") } throws: { ($0 as? KVError)?.code == .notABackup }
            #expect(try Self.files(dir + "/backup") == before)
            try a.close()
            try b.close()
            try Self.expectContents(dir + "/backup", ["a": Array("1".utf8)])
        }
    }

    @Test(arguments: ["store", "foreign", "file"])
    func targetThatHoldsSomethingElseIsRefusedUnchanged(_ kind: String) throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            try store.set(Array("1".utf8), forKey: "a")
            let target = dir + "/t"
            switch kind {
            case "store":
                let other = try Store(path: target, configuration: Self.configuration())
                try other.set(Array("mine".utf8), forKey: "other")
                try other.close()
            case "foreign":
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                try Data("notes".utf8).write(to: URL(fileURLWithPath: target + "/notes.txt"))
            default:
                try Data("a file".utf8).write(to: URL(fileURLWithPath: target))
            }
            let before = kind == "file" ? [] : try Self.files(target)
            #expect { try store.backup(to: target) } throws: { ($0 as? KVError)?.code == .notABackup }
            if kind != "file" { #expect(try Self.files(target) == before) }
            try store.close()
        }
    }

    @Test func backupThatWasWrittenToSinceIsRefusedUnchanged() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            try store.set(Array("1".utf8), forKey: "a")
            try store.backup(to: dir + "/b")
            let opened = try Store(path: dir + "/b", configuration: Self.configuration())
            try opened.set(Array("written in the backup".utf8), forKey: "b")
            try opened.close()
            let before = try Self.files(dir + "/b")
            #expect { try store.backup(to: dir + "/b") } throws: { ($0 as? KVError)?.code == .notABackup }
            #expect(try Self.files(dir + "/b") == before)
            try store.close()
            try Self.expectContents(dir + "/b", ["a": Array("1".utf8), "b": Array("written in the backup".utf8)])
        }
    }

    @Test func backupOfABackupRestoresIt() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            var model: [String: [UInt8]] = [:]
            for i in 0..<2_000 { try store.set(Self.value(i), forKey: Self.key(i)); model[Self.key(i)] = Self.value(i) }
            try store.backup(to: dir + "/b")
            try store.close()
            let backup = try Store(path: dir + "/b", configuration: Self.configuration())
            try backup.backup(to: dir + "/restored")
            try backup.close()
            try Self.expectContents(dir + "/restored", model)
        }
    }

    @Test func readOnlyHandleBacksUpWhatTheWriterPublished() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            var model: [String: [UInt8]] = [:]
            for i in 0..<3_000 { try store.set(Self.value(i), forKey: Self.key(i)); model[Self.key(i)] = Self.value(i) }
            var readOnly = Self.configuration()
            readOnly.readOnly = true
            let reader = try Store(path: dir + "/s", configuration: readOnly)
            let report = try reader.backup(to: dir + "/b")
            #expect(report.index == .rebuilt)
            try reader.close()
            try store.close()
            try Self.expectContents(dir + "/b", model)
        }
    }

    /// A writer thread writes keys in order (some in batches) while backups and compaction run:
    /// each backup holds exactly the writes up to some point, no more, no fewer.
    @Test func backupWhileWritingAndCompactingIsAPrefixOfTheWrites() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/s", configuration: Self.configuration())
            let written = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
            let writer = Thread {
                var i = 0
                while !stop.load(ordering: .relaxed) && i < 60_000 {
                    if i % 5 == 0 {
                        // A batch also writes its number to two keys of their own: a backup that
                        // held part of a batch would show them apart.
                        try? store.write { batch in
                            for j in i..<(i + 3) { batch.set(Self.value(j), forKey: Self.key(j % 700)) }
                            batch.set(Array(String(i).utf8), forKey: "batch-a")
                            batch.set(Array(String(i).utf8), forKey: "batch-b")
                        }
                        i += 3
                    } else {
                        try? store.set(Self.value(i), forKey: Self.key(i % 700))
                        i += 1
                    }
                    written.store(i, ordering: .releasing)
                }
            }
            writer.start()
            let compactor = Thread {
                var options = Store.CompactionOptions()
                options.minimumDeadRatio = 0.3
                options.minimumDeadBytes = 1
                while !stop.load(ordering: .relaxed) { _ = try? store.compact(options); usleep(2_000) }
            }
            compactor.start()
            for round in 0..<6 {
                usleep(30_000)
                let low = written.load(ordering: .acquiring)
                let report = try store.backup(to: dir + "/b")
                let high = written.load(ordering: .acquiring)
                // The newest write the backup holds decides the point; every key then holds the
                // value of its latest write up to that point.
                let backup = try Store(path: dir + "/b", configuration: Self.configuration())
                var latest = -1
                var values: [Int: Int] = [:]
                for k in 0..<700 {
                    guard let bytes = try backup.value(forKey: Self.key(k)) else { continue }
                    let i = Int(String(decoding: bytes.prefix(20), as: UTF8.self).split(separator: " ")[1])!
                    values[k] = i
                    latest = max(latest, i)
                }
                #expect(try backup.value(forKey: "batch-a") == backup.value(forKey: "batch-b"), "round \(round): a batch is whole or absent")
                try backup.close()
                #expect(latest + 1 >= low - 3 && latest < high + 3, "round \(round): the point \(latest) lies within the call (\(low)…\(high))")
                for k in 0..<700 {
                    // The latest write of key k at or before `latest` (writes go i, i+1, …; batches
                    // of three write i, i+1, i+2 at once, all or none).
                    var expected = latest - ((latest - k) % 700 + 700) % 700
                    if expected < 0 { expected = -1 }
                    #expect(values[k] ?? -1 == expected, "round \(round), key \(k): \(values[k] ?? -1) instead of \(expected) (report \(report))")
                }
            }
            stop.store(true, ordering: .relaxed)
            while writer.isExecuting || compactor.isExecuting { usleep(1_000) }
            #expect(try store.statistics.segments < Int(store.engine.logEnd().segmentID), "compaction retired segments meanwhile")
            try store.close()
        }
    }
}
