@testable import KVStore
import Foundation
import Testing

/// Damage anywhere but a torn tail: a bad record in a sealed segment is corruption (reading its key
/// throws `.corruption` naming the file and offset, every other key stays readable, the store still
/// opens); a damaged index is rebuilt; a damaged hint file is ignored; a damaged STORE file is
/// refused without touching anything; a segment of another store is not read as this store's.
/// Bytes from disk never crash the process and never come back as a wrong value.
@Suite("Recovery: corruption")
struct CorruptionTests {
    // MARK: - A store with sealed segments

    /// A closed store of about four 64 KiB segments, every key written once.
    struct SealedStore {
        var files: [String: [UInt8]]
        var values: [[UInt8]: [UInt8]]
        var configuration: Store.Configuration

        static func make(in directory: String, compression: Store.Compression = .none) throws -> SealedStore {
            let configuration = TestStores.configuration(compression: compression, segmentSize: 64 << 10)
            let store = try Store(path: directory, configuration: configuration)
            var values: [[UInt8]: [UInt8]] = [:]
            var rng = SplitMix64(seed: 42)
            var i = 0
            while try FileSurgery.segmentNames(in: directory).count < 4 {
                let key = Array("key-\(i)".utf8)
                let length = [0, 1, 50, 700, 2_500][i % 5]
                let value = i % 2 == 0 ? rng.bytes(length) : [UInt8](repeating: UInt8(i % 256), count: length)
                try store.set(value, forKey: key)
                values[key] = value
                i += 1
            }
            try store.close()
            return SealedStore(files: try FileSurgery.snapshot(directory), values: values, configuration: configuration)
        }

        /// Keys whose record is in segment `id`, with the record.
        func records(inSegment id: UInt32, directory: String) throws -> [ParsedRecord] {
            try FileSurgery.records(inSegment: directory + "/" + FileNames.segment(id)).filter { $0.header.kind == .put }
        }
    }

    /// Reads every key; returns the keys whose read did not return their value, by outcome.
    static func readAll(_ store: Store, _ values: [[UInt8]: [UInt8]]) -> (wrong: [[UInt8]], missing: [[UInt8]], corrupt: [[UInt8]: KVError], other: [[UInt8]: any Error]) {
        var wrong: [[UInt8]] = [], missing: [[UInt8]] = [], corrupt: [[UInt8]: KVError] = [:], other: [[UInt8]: any Error] = [:]
        for (key, value) in values {
            do {
                switch try store.value(forKey: key) {
                case nil: missing.append(key)
                case let got? where got != value: wrong.append(key)
                default: break
                }
            } catch let error as KVError where error.code == .corruption {
                corrupt[key] = error
            } catch {
                other[key] = error
            }
        }
        return (wrong, missing, corrupt, other)
    }

    // MARK: - A bad record in a sealed segment

    enum Spot: String, CaseIterable, Sendable {
        case checksum, kind, sequence, keyLength, key, value
    }

    @Test(arguments: Spot.allCases, [Store.Compression.none, .lz4])
    func flippedByteInASealedRecordIsCorruptionOfThatKeyOnly(_ spot: Spot, _ compression: Store.Compression) throws {
        try withScratchDirectory { directory in
            let sealed = try SealedStore.make(in: directory, compression: compression)
            let records = try sealed.records(inSegment: 1, directory: directory)
            // A record in the middle of the segment, with a value of some length.
            let target = try #require(records.dropFirst(records.count / 2).first { $0.header.storedValueLength >= 50 })
            let segmentPath = directory + "/" + FileNames.segment(1)
            let at: Int = switch spot {
            case .checksum: target.offset + 1
            case .kind: target.offset + 4
            case .sequence: target.offset + 9
            case .keyLength: target.offset + 16
            case .key: target.offset + RecordHeader.size + 2
            case .value: target.offset + RecordHeader.size + target.header.keyLength + target.header.storedValueLength / 2
            }

            for mode in ["clean index", "index rebuilt from hints"] {
                try FileSurgery.restore(sealed.files, into: directory)
                try FileSurgery.xor(segmentPath, at: at, with: spot == .kind ? 0x01 : 0x40)
                if mode != "clean index" { try FileSurgery.remove(directory + "/" + FileNames.index) }
                let store = try Store(path: directory, configuration: sealed.configuration)
                let result = Self.readAll(store, sealed.values)
                #expect(result.wrong.count + result.missing.count + result.other.count == 0,
                        "\(mode): wrong \(result.wrong.count), missing \(result.missing.count), other errors \(result.other.values.map { "\($0)" })")
                #expect(Set(result.corrupt.keys) == [target.key], "\(mode): corrupt keys \(result.corrupt.keys.map { String(decoding: $0, as: UTF8.self) })")
                if let error = result.corrupt[target.key] {
                    #expect(error.path == segmentPath, "\(mode): \(error)")
                    #expect(error.offset == Int64(target.offset), "\(mode): \(error)")
                }
                // The store keeps working.
                try store.set([1, 2, 3], forKey: Array("after".utf8))
                #expect(try store.value(forKey: Array("after".utf8)) == [1, 2, 3])
                try store.close()
            }
        }
    }

    /// A rebuild (after a power loss) that meets a bad record in a sealed segment *without* a hint
    /// takes it as the point where the power loss cut the history (FORMAT.md §6): hints are written
    /// only once their segment is durable and segments are synced oldest first, so nothing after
    /// that point was ever synced. The records before it are indexed, the rest of the history is
    /// dropped — later segments are set aside as `*.seg.lost`, unchanged — and the damage is
    /// reported. What survives is a prefix of the history; the store keeps working from there.
    @Test func aBadRecordInAHintlessSealedSegmentCutsTheHistoryThere() throws {
        try withScratchDirectory { directory in
            let sealed = try SealedStore.make(in: directory)
            let records = try sealed.records(inSegment: 1, directory: directory)
            let targetIndex = try #require(records.indices.dropFirst(records.count / 2).first { records[$0].header.storedValueLength >= 50 })
            let target = records[targetIndex]
            let segmentPath = directory + "/" + FileNames.segment(1)
            try FileSurgery.xor(segmentPath, at: target.offset + RecordHeader.size + target.header.keyLength + 10, with: 0x01)
            try FileSurgery.remove(directory + "/" + FileNames.index)
            try FileSurgery.remove(directory + "/" + FileNames.hint(1))
            let later = try FileSurgery.segmentNames(in: directory).filter { $0 != FileNames.segment(1) }
            let laterBytes = try later.map { try FileSurgery.read(directory + "/" + $0) }

            var store = try Store(path: directory, configuration: sealed.configuration)
            let report = store.recoveryReport
            #expect(report.indexTrust == .rebuilt)
            #expect(report.problems.contains { $0.code == .corruption && $0.path == segmentPath && $0.offset == Int64(target.offset) },
                    "problems: \(report.problems)")
            #expect(report.setAsideSegments == later.map { directory + "/" + $0 + FileNames.lostSuffix })
            for (name, bytes) in zip(later, laterBytes) {
                #expect(!FileSurgery.exists(directory + "/" + name))
                #expect((try? FileSurgery.read(directory + "/" + name + FileNames.lostSuffix)) == bytes, "\(name) was not set aside unchanged")
            }

            // Exactly the records before the bad one survive.
            var expected: [[UInt8]: [UInt8]] = [:]
            for record in records[..<targetIndex] { expected[record.key] = sealed.values[record.key] }
            var wrong = 0, missing = 0, extra = 0, errors = 0
            for key in sealed.values.keys {
                do {
                    let got = try store.value(forKey: key)
                    if let want = expected[key] {
                        if got == nil { missing += 1 } else if got != want { wrong += 1 }
                    } else if got != nil {
                        extra += 1
                    }
                } catch {
                    errors += 1
                }
            }
            #expect(wrong == 0 && missing == 0 && extra == 0 && errors == 0,
                    "of \(expected.count) keys before the cut: \(missing) missing, \(wrong) wrong; \(extra) keys after the cut present; \(errors) errors")

            // The store continues from the cut, and that survives a reopen.
            for i in 0..<300 { try store.set([UInt8](repeating: UInt8(i % 256), count: 500), forKey: Array("new-\(i)".utf8)) }
            try store.close()
            store = try Store(path: directory, configuration: sealed.configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            let lostNew = (0..<300).filter { i in (try? store.value(forKey: Array("new-\(i)".utf8))) != [UInt8](repeating: UInt8(i % 256), count: 500) }
            #expect(lostNew.isEmpty, "\(lostNew.count) writes after the cut were lost")
            for (key, value) in expected { #expect(try store.value(forKey: key) == value) }
            try store.close()
        }
    }

    // MARK: - Every byte of a small sealed segment

    /// Flips every byte of a small sealed segment in turn (records of every kind: puts of 0 to 100
    /// bytes, an LZ4-compressed one, a removal, a batch), and each time opens the store three ways —
    /// with its clean index, rebuilding from hint files, rebuilding by scanning — and reads every key.
    /// The store always opens; each read returns the right value or throws `.corruption`; a key may
    /// be missing (or show a value it held before) only when the open reported damage and the index
    /// had to be rebuilt. Never a value that was not written for the key, never a trap.
    @Test func everyByteFlipOfASmallSealedSegmentIsCaughtOrHarmless() throws {
        try withScratchDirectory { directory in
            let base = directory + "/base"
            let configuration = TestStores.configuration(compression: .lz4, segmentSize: 64 << 10)
            var store = try Store(path: base, configuration: configuration)
            var history: [[UInt8]: [[UInt8]]] = [:]
            var latest: [[UInt8]: [UInt8]] = [:]
            func set(_ value: [UInt8], _ key: String) throws {
                try store.set(value, forKey: Array(key.utf8))
                history[Array(key.utf8), default: []].append(value)
                latest[Array(key.utf8)] = value
            }
            try set([], "empty")
            try set([7], "one")
            try set(Array("twenty bytes of text".utf8), "twenty")
            try set([UInt8](repeating: 0x61, count: 100), "compressed")
            try set(Array("to be removed".utf8), "removed")
            try store.removeValue(forKey: Array("removed".utf8))
            latest[Array("removed".utf8)] = nil
            try store.write { batch in
                batch.set(Array("batch member".utf8), forKey: Array("in-batch".utf8))
                batch.set([1, 2, 3, 4, 5, 6, 7, 8, 9], forKey: Array("twenty".utf8))
            }
            history[Array("in-batch".utf8), default: []].append(Array("batch member".utf8))
            history[Array("twenty".utf8), default: []].append([1, 2, 3, 4, 5, 6, 7, 8, 9])
            latest[Array("in-batch".utf8)] = Array("batch member".utf8)
            latest[Array("twenty".utf8)] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
            // A record that does not fit what is left of segment 1 seals it.
            var rng = SplitMix64(seed: 7)
            try set(rng.bytes(64 << 10), "big")
            try store.close()
            // Reopen and close once so that the sealer has certainly written the hint of segment 1.
            store = try Store(path: base, configuration: configuration)
            try store.close()
            let files = try FileSurgery.snapshot(base)
            let segmentName = FileNames.segment(1)
            let segment = try #require(files[segmentName])
            #expect(files[FileNames.hint(1)] != nil, "segment 1 has no hint file")
            #expect(segment.count < 1_024, "segment 1 is \(segment.count) bytes")

            let work = directory + "/work"
            let keys = Array(history.keys) + [Array("removed".utf8)]
            var failures = 0
            var detected: Set<Int> = []  // record bytes whose flip a read with the clean index reported as corruption
            for offset in 0..<segment.count {
                for mode in 0..<3 {
                    var damaged = files
                    damaged[segmentName]![offset] ^= offset % 2 == 0 ? 0xFF : UInt8(1 << (offset / 2 % 8))
                    if mode >= 1 { damaged[FileNames.index] = nil }
                    if mode == 2 { damaged[FileNames.hint(1)] = nil }
                    try FileSurgery.restore(damaged, into: work)
                    let context = "byte \(offset) of \(segmentName), \(["clean index", "rebuilt from hints", "rebuilt by scanning"][mode])"
                    let opened: Store
                    do { opened = try Store(path: work, configuration: configuration) } catch {
                        Issue.record("the store did not open: \(error) — \(context)")
                        failures += 1
                        continue
                    }
                    let reported = !opened.recoveryReport.problems.isEmpty
                    for key in keys {
                        let name = String(decoding: key, as: UTF8.self)
                        do {
                            let got = try opened.value(forKey: key)
                            if got == latest[key] { continue }
                            if let got, !(history[key] ?? []).contains(got) {
                                Issue.record("key \(name) returned \(got.count) bytes never written for it — \(context)")
                                failures += 1
                            } else if mode == 0 || !reported {
                                Issue.record("key \(name) returned \(got.map { "an older value (\($0.count) bytes)" } ?? "nil") with no damage reported — \(context)")
                                failures += 1
                            }
                        } catch let error as KVError where error.code == .corruption {
                            if mode == 0 && offset >= SegmentHeader.size { detected.insert(offset) }
                            if error.path == nil || error.offset == nil {
                                Issue.record("corruption error without path or offset: \(error) — \(context)")
                                failures += 1
                            }
                        } catch {
                            Issue.record("key \(name) threw \(error) — \(context)")
                            failures += 1
                        }
                    }
                    try opened.close()
                    if failures >= 10 { return }
                }
            }
            // Most record bytes belong to records that are read: their flips must show.
            let recordBytes = segment.count - SegmentHeader.size
            #expect(detected.count > recordBytes / 3, "only \(detected.count) of \(recordBytes) flips of record bytes were reported as corruption")
        }
    }

    // MARK: - The index

    @Test func damagedIndexHeaderIsRebuilt() throws {
        try withScratchDirectory { directory in
            let base = directory + "/base"
            let sealed = try SealedStore.make(in: base)
            let work = directory + "/work"
            let index = sealed.files[FileNames.index]!
            // Every byte of the checksummed header.
            for offset in 0..<IndexHeader.checksummedLength {
                var files = sealed.files
                files[FileNames.index]![offset] ^= 0x10
                try expectRebuilt(files, into: work, sealed, "index header byte \(offset) flipped")
            }
            for (name, damaged) in [("empty", [UInt8]()), ("header page only", Array(index.prefix(IndexHeader.pageSize))),
                                    ("truncated to half", Array(index.prefix(index.count / 2))),
                                    ("zeroed", [UInt8](repeating: 0, count: index.count)),
                                    ("garbage", SplitMix64(seed: 3).bytesOf(index.count))] {
                var files = sealed.files
                files[FileNames.index] = damaged
                try expectRebuilt(files, into: work, sealed, "index \(name)")
            }
            // The index of another store (same layout, other store id and seed).
            let other = try SealedStore.make(in: directory + "/other")
            var files = sealed.files
            files[FileNames.index] = other.files[FileNames.index]
            try expectRebuilt(files, into: work, sealed, "index of another store")
            // A missing index.
            files = sealed.files
            files[FileNames.index] = nil
            try expectRebuilt(files, into: work, sealed, "no index")
        }
    }

    /// The slots of a cleanly closed index are trusted without reading the log and carry no
    /// checksum (FORMAT.md §6): a decayed slot may make a key read as absent. It must never make a
    /// read return a wrong value or crash, and deleting the index file brings every key back.
    @Test func damagedIndexSlotNeverGivesAWrongValueAndReindexingRestoresEveryKey() throws {
        try withScratchDirectory { directory in
            let base = directory + "/base"
            let sealed = try SealedStore.make(in: base)
            let index = sealed.files[FileNames.index]!
            let work = directory + "/work"
            // The first three occupied slots, every byte.
            var occupied: [Int] = []
            var slot = 0
            while occupied.count < 3 && IndexHeader.pageSize + (slot + 1) * HashIndex.slotSize <= index.count {
                let at = IndexHeader.pageSize + slot * HashIndex.slotSize
                if index[at ..< at + 8].contains(where: { $0 != 0 }) { occupied.append(at) }
                slot += 1
            }
            #expect(occupied.count == 3)
            for at in occupied {
                for byte in at ..< at + HashIndex.slotSize {
                    var files = sealed.files
                    files[FileNames.index]![byte] ^= 0x04
                    try FileSurgery.restore(files, into: work)
                    var store = try Store(path: work, configuration: sealed.configuration)
                    let damaged = Self.readAll(store, sealed.values)
                    #expect(damaged.wrong.count == 0, "slot byte \(byte): wrong values for \(damaged.wrong.count) keys")
                    #expect(damaged.other.count == 0, "slot byte \(byte): \(damaged.other.values.map { "\($0)" })")
                    try store.close()
                    try FileSurgery.remove(work + "/" + FileNames.index)
                    store = try Store(path: work, configuration: sealed.configuration)
                    #expect(store.recoveryReport.indexTrust == .rebuilt)
                    let rebuilt = Self.readAll(store, sealed.values)
                    #expect(rebuilt.wrong.count + rebuilt.missing.count + rebuilt.corrupt.count + rebuilt.other.count == 0,
                            "slot byte \(byte): after deleting the index, \(rebuilt.missing.count) missing, \(rebuilt.wrong.count) wrong")
                    try store.close()
                }
            }
        }
    }

    func expectRebuilt(_ files: [String: [UInt8]], into work: String, _ sealed: SealedStore, _ what: String,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        try FileSurgery.restore(files, into: work)
        let store = try Store(path: work, configuration: sealed.configuration)
        #expect(store.recoveryReport.indexTrust == .rebuilt, "\(what): index \(store.recoveryReport.indexTrust)", sourceLocation: sourceLocation)
        #expect(store.recoveryReport.problems.isEmpty, "\(what): \(store.recoveryReport.problems)", sourceLocation: sourceLocation)
        let result = Self.readAll(store, sealed.values)
        #expect(result.wrong.count + result.missing.count + result.corrupt.count + result.other.count == 0,
                "\(what): wrong \(result.wrong.count), missing \(result.missing.count), corrupt \(result.corrupt.count), other \(result.other.count)",
                sourceLocation: sourceLocation)
        try store.close()
    }

    // MARK: - Hint files

    @Test func damagedHintFileIsIgnoredAndItsSegmentScanned() throws {
        try withScratchDirectory { directory in
            let sealed = try SealedStore.make(in: directory + "/base")
            let work = directory + "/work"
            let hintName = FileNames.hint(1)
            let hint = try #require(sealed.files[hintName])
            var base = sealed.files
            base[FileNames.index] = nil  // every open rebuilds, so it reads the hints
            // Header and trailer bytes, and a sample of the entries.
            let offsets = Array(0..<HintLayout.headerSize) + Array(stride(from: HintLayout.headerSize, to: hint.count - 8, by: 13))
                + Array(hint.count - 8 ..< hint.count)
            for offset in offsets {
                var files = base
                files[hintName]![offset] ^= 0x20
                try expectRebuilt(files, into: work, sealed, "hint byte \(offset) flipped")
            }
            let other = try SealedStore.make(in: directory + "/other")
            for (name, damaged) in [("empty", [UInt8]()), ("truncated", Array(hint.prefix(hint.count / 2))),
                                    ("without trailer", Array(hint.dropLast(8))), ("zeroed", [UInt8](repeating: 0, count: hint.count)),
                                    ("of segment 2", sealed.files[FileNames.hint(2)]!), ("of another store", other.files[hintName]!)] {
                var files = base
                files[hintName] = damaged
                try expectRebuilt(files, into: work, sealed, "hint \(name)")
            }
        }
    }

    // MARK: - The STORE file

    @Test func damagedStoreFileIsRefusedAndNothingIsTouched() throws {
        try withScratchDirectory { directory in
            let sealed = try SealedStore.make(in: directory + "/base")
            let work = directory + "/work"
            let manifest = sealed.files[FileNames.manifest]!
            var variants: [(String, [UInt8])] = [("empty", []), ("magic only", Array(manifest.prefix(8))),
                                                 ("truncated to 20 bytes", Array(manifest.prefix(20))),
                                                 ("zeroed", [UInt8](repeating: 0, count: manifest.count))]
            for offset in [0, 7, 12, 16, 23, 24, 31, 44, 47] {
                var flipped = manifest
                flipped[offset] ^= 0x01
                variants.append(("byte \(offset) flipped", flipped))
            }
            for (name, damaged) in variants {
                var files = sealed.files
                files[FileNames.manifest] = damaged
                try FileSurgery.restore(files, into: work)
                do {
                    let store = try Store(path: work, configuration: sealed.configuration)
                    Issue.record("STORE \(name): the store opened")
                    try store.close()
                } catch {
                    #expect(isKVError(error, .corruption) || isKVError(error, .notAStore), "STORE \(name): \(error)")
                }
                #expect(try FileSurgery.snapshot(work) == files, "STORE \(name): the refused open changed the directory")
            }
        }
    }

    // MARK: - Segments of another store

    @Test func sealedSegmentOfAnotherStoreIsNotRead() throws {
        try withScratchDirectory { directory in
            let sealed = try SealedStore.make(in: directory + "/base")
            let other = try SealedStore.make(in: directory + "/other")
            let work = directory + "/work"
            var files = sealed.files
            let name = FileNames.segment(1)
            files[name] = other.files[name]
            try FileSurgery.restore(files, into: work)
            let segmentPath = work + "/" + name
            let ownKeys = Set(try FileSurgery.records(inSegment: directory + "/base/" + name).map(\.key))

            let store = try Store(path: work, configuration: sealed.configuration)
            #expect(store.recoveryReport.problems.contains { $0.code == .corruption && $0.path == segmentPath },
                    "problems: \(store.recoveryReport.problems)")
            let result = Self.readAll(store, sealed.values)
            #expect(result.wrong.count + result.other.count == 0)
            // The keys of the replaced segment are unreadable (corruption), the others all there.
            #expect(Set(result.corrupt.keys).union(result.missing) == ownKeys, "\(result.corrupt.count) corrupt, \(result.missing.count) missing, \(ownKeys.count) in the segment")
            #expect(result.missing.count == 0, "with a clean index, keys of the foreign segment should read as corruption, not as absent")
            try store.close()
            #expect(try FileSurgery.read(segmentPath) == other.files[name], "the foreign segment was modified")
        }
    }

    @Test func newestSegmentOfAnotherStoreIsReportedAndWritingContinues() throws {
        try withScratchDirectory { directory in
            let sealed = try SealedStore.make(in: directory + "/base")
            let other = try SealedStore.make(in: directory + "/other")
            let work = directory + "/work"
            var files = sealed.files
            let ids = sealed.files.keys.compactMap { FileNames.segmentID(of: $0, suffix: FileNames.segmentSuffix) }
            let foreignName = FileNames.segment(ids.max()! + 1)
            files[foreignName] = other.files[FileNames.segment(1)]
            try FileSurgery.restore(files, into: work)

            let store = try Store(path: work, configuration: sealed.configuration)
            #expect(store.recoveryReport.problems.contains { $0.code == .corruption && $0.path == work + "/" + foreignName },
                    "problems: \(store.recoveryReport.problems)")
            let result = Self.readAll(store, sealed.values)
            #expect(result.wrong.count + result.missing.count + result.corrupt.count + result.other.count == 0)
            // Write enough to roll past the foreign segment's number.
            for i in 0..<200 { try store.set([UInt8](repeating: UInt8(i % 256), count: 1_000), forKey: Array("new-\(i)".utf8)) }
            for i in 0..<200 { #expect(try store.value(forKey: Array("new-\(i)".utf8)) == [UInt8](repeating: UInt8(i % 256), count: 1_000)) }
            try store.close()
            #expect(try FileSurgery.read(work + "/" + foreignName) == other.files[FileNames.segment(1)], "the foreign segment was modified")
        }
    }
}

extension SplitMix64 {
    /// `count` random bytes from a fresh generator value (usable in expressions).
    func bytesOf(_ count: Int) -> [UInt8] {
        var copy = self
        return copy.bytes(count)
    }
}
