@testable import KVStore
import Foundation
import Testing

/// A torn write at the end of the active segment is dropped on open, exactly: the store keeps
/// every record wholly before the cut and not one byte after it, the dropped bytes are reported,
/// the next write works, and it survives a reopen.
///
/// For each value size (raw and LZ4), a store ends with three records (one of them overwrites an
/// earlier key, so dropping it must bring the old value back). The active segment is then cut
/// inside those records — truncated there, or overwritten from there with zeros, 0xFF or random
/// bytes — and the store reopened as after a power loss (abandoned with `simulateCrash()`, reopened
/// under another boot id) or after a clean close.
///
/// Offsets: every byte offset of the three records (padding included) when a record is at most
/// 256 bytes long (values of 0, 1 and 100 bytes, and LZ4 up to 4 KiB, which these values compress
/// to a few dozen bytes); for longer records every offset in the header, the key and the first value
/// bytes, the last bytes and the padding, both sides of every 4 KiB page boundary, and a stride of
/// 1/24 of the record through the rest. Truncation after a crash is checked at every one of those
/// offsets; the other combinations at a rotating share of them (overwrite patterns rotate between
/// zeros, 0xFF and random bytes), to keep the suite within its time budget in a debug build.
@Suite("Recovery: torn tail")
struct TornTailTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var valueSize: Int
        var compression: Store.Compression
        var testDescription: String { "\(valueSize) bytes, \(compression)" }
    }

    static let valueSizes = [0, 1, 100, 4095, 4096, 4097, 65_536]
    static let cases: [Case] = valueSizes.flatMap { size in [Case(valueSize: size, compression: .none), Case(valueSize: size, compression: .lz4)] }

    @Test(arguments: cases)
    func truncatedTailRecordIsDropped(_ c: Case) throws {
        try withScratchDirectory { directory in
            let fixture = try TailFixture.make(c, in: directory + "/base")
            var run = TailRun(fixture: fixture, directory: directory + "/work", seed: testSeed())
            for (i, cut) in fixture.cutOffsets.enumerated() {
                guard try run.check(cut: cut, damage: .truncate, shutdown: .crash, writeAfter: i % 16 == 0) else { return }
                if i % 4 == 1 {
                    guard try run.check(cut: cut, damage: .truncate, shutdown: .clean, writeAfter: i % 16 == 1) else { return }
                }
            }
        }
    }

    @Test(arguments: cases)
    func overwrittenTailRecordIsDropped(_ c: Case) throws {
        try withScratchDirectory { directory in
            let fixture = try TailFixture.make(c, in: directory + "/base")
            var run = TailRun(fixture: fixture, directory: directory + "/work", seed: testSeed())
            for (i, cut) in fixture.cutOffsets.enumerated() where i % 3 == 2 {
                let damage = TailRun.Damage.overwrites[(i / 3) % 3]
                guard try run.check(cut: cut, damage: damage, shutdown: .crash, writeAfter: i % 24 == 2) else { return }
            }
        }
    }

    /// After a clean close the tail was synced: damage there is not a torn write but corruption of
    /// durable data. The clean index is trusted (no segment is read on open), and reading a damaged
    /// record throws `.corruption` naming the file and offset; nothing returns a wrong value.
    @Test(arguments: cases)
    func overwrittenTailAfterCleanCloseReadsAsCorruption(_ c: Case) throws {
        try withScratchDirectory { directory in
            let fixture = try TailFixture.make(c, in: directory + "/base")
            var run = TailRun(fixture: fixture, directory: directory + "/work", seed: testSeed())
            // A sample is enough here: the open does not look at the bytes.
            for (i, cut) in fixture.cutOffsets.enumerated() where i % 12 == 3 {
                let damage = TailRun.Damage.overwrites[(i / 12) % 3]
                guard try run.check(cut: cut, damage: damage, shutdown: .clean, writeAfter: i % 24 == 3) else { return }
            }
        }
    }

    /// A batch cut anywhere before its last member ends is dropped whole: none of its sets or
    /// removals is visible, and the values it overwrote are back.
    @Test(arguments: [Store.Compression.none, .lz4])
    func tornBatchIsAllOrNothing(_ compression: Store.Compression) throws {
        try withScratchDirectory { directory in
            let fixture = try TailFixture.makeBatch(compression: compression, in: directory + "/base")
            var run = TailRun(fixture: fixture, directory: directory + "/work", seed: testSeed())
            for (i, cut) in fixture.cutOffsets.enumerated() {
                guard try run.check(cut: cut, damage: .truncate, shutdown: .crash, writeAfter: i % 16 == 0) else { return }
                if i % 6 == 1 {
                    guard try run.check(cut: cut, damage: .truncate, shutdown: .clean, writeAfter: false) else { return }
                }
                if i % 4 == 2 {
                    guard try run.check(cut: cut, damage: TailRun.Damage.overwrites[(i / 4) % 3], shutdown: .crash, writeAfter: false) else { return }
                }
            }
        }
    }
}

/// A store whose last records are about to be cut, captured twice: as left by a crash (segment
/// preallocated, index open) and after a clean close (segment truncated, index clean).
struct TailFixture {
    /// One write of the store's history: the records it produced and what it did.
    struct Write {
        var records: [ParsedRecord]
        var effects: [(key: [UInt8], value: [UInt8]?)]
        var start: Int { records.first!.offset }
        var end: Int { records.last!.end }
    }

    var configuration: Store.Configuration
    var crashFiles: [String: [UInt8]]
    var cleanFiles: [String: [UInt8]]
    var segmentName: String
    /// Writes before the tail; never damaged.
    var early: [Write]
    /// The writes that get cut.
    var tail: [Write]
    var cutOffsets: [Int]
    var name: String

    var keys: [[UInt8]] {
        var seen = Set<[UInt8]>()
        return (early + tail).flatMap { $0.effects.map(\.key) }.filter { seen.insert($0).inserted }
    }

    static func value(_ size: Int, seed: Int, compressible: Bool) -> [UInt8] {
        var rng = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(size))
        if compressible {
            let pattern = rng.bytes(7)
            return (0..<size).map { pattern[$0 % pattern.count] }
        }
        return rng.bytes(size)
    }

    /// Builds the store: five small early sets, then three writes of `valueSize` bytes — the
    /// middle one overwrites an early key.
    static func make(_ c: TornTailTests.Case, in directory: String) throws -> TailFixture {
        let compressible = c.compression == .lz4
        var sets: [(key: [UInt8], value: [UInt8])] = (0..<5).map { (Array("early-\($0)".utf8), value(10 + 7 * $0, seed: $0, compressible: false)) }
        let earlyCount = sets.count
        sets.append((Array("tail-a".utf8), value(c.valueSize, seed: 100, compressible: compressible)))
        sets.append((Array("early-2".utf8), value(c.valueSize, seed: 101, compressible: compressible)))
        sets.append((Array("tail-b".utf8), value(c.valueSize, seed: 102, compressible: compressible)))
        let fixture = try build(compression: c.compression, in: directory, name: c.testDescription) { store in
            for set in sets { try store.set(set.value, forKey: set.key) }
        } describe: { records in
            let writes = zip(records, sets).map { Write(records: [$0], effects: [($1.key, $1.value)]) }
            return (Array(writes.prefix(earlyCount)), Array(writes.suffix(3)))
        }
        if c.compression == .lz4 && c.valueSize >= 100 {
            // Make sure the LZ4 cases test compressed records.
            #expect(fixture.tail.allSatisfy { $0.records[0].header.isCompressed }, "the LZ4 fixture's tail records are not compressed")
        }
        return fixture
    }

    /// Builds a store that ends with a batch: two sets, an overwrite and a removal of earlier keys.
    static func makeBatch(compression: Store.Compression, in directory: String) throws -> TailFixture {
        let compressible = compression == .lz4
        let early: [(key: [UInt8], value: [UInt8])] = (0..<4).map { (Array("early-\($0)".utf8), value(20 + $0, seed: $0, compressible: false)) }
        let members: [(key: [UInt8], value: [UInt8]?)] = [
            (Array("batch-a".utf8), value(100, seed: 200, compressible: compressible)),
            (Array("early-1".utf8), nil),
            (Array("early-2".utf8), value(300, seed: 201, compressible: compressible)),
            (Array("batch-b".utf8), []),
        ]
        return try build(compression: compression, in: directory, name: "batch, \(compression)") { store in
            for set in early { try store.set(set.value, forKey: set.key) }
            try store.write { batch in
                for member in members {
                    if let value = member.value { batch.set(value, forKey: member.key) } else { batch.removeValue(forKey: member.key) }
                }
            }
        } describe: { records in
            let earlyWrites = zip(records, early).map { Write(records: [$0], effects: [($1.key, $1.value)]) }
            let batch = Write(records: Array(records.suffix(members.count + 1)), effects: members)
            return (earlyWrites, [batch])
        }
    }

    private static func build(compression: Store.Compression, in directory: String, name: String,
                              _ writes: (Store) throws -> Void,
                              describe: ([ParsedRecord]) -> (early: [Write], tail: [Write])) throws -> TailFixture {
        let configuration = TestStores.configuration(compression: compression, segmentSize: 256 << 10, bootID: TestStores.randomBootID())
        var store = try Store(path: directory, configuration: configuration)
        try writes(store)
        store.simulateCrash()
        let crashFiles = try FileSurgery.snapshot(directory)
        let segmentName = try #require(try FileSurgery.segmentNames(in: directory).last)
        let records = try FileSurgery.records(inSegment: directory + "/" + segmentName)
        // Reopened in the same boot: the index is trusted up to where it covers; then closed cleanly.
        store = try Store(path: directory, configuration: configuration)
        try store.close()
        let cleanFiles = try FileSurgery.snapshot(directory)
        #expect(try FileSurgery.records(inSegment: directory + "/" + segmentName) == records)

        let (early, tail) = describe(records)
        precondition(early.count + tail.reduce(0, { $0 + $1.records.count }) <= records.count, "fixture records do not match the writes")
        let start = tail.first!.start
        let end = tail.last!.records.last!.alignedEnd
        var offsets = Set<Int>()
        for write in tail {
            for record in write.records {
                let length = record.length
                if length <= 256 {
                    offsets.formUnion(record.offset ... record.alignedEnd)
                } else {
                    // Every offset in the header, the key and the first value bytes; the last bytes and
                    // the padding; both sides of every page boundary; a stride through the rest.
                    let body = RecordHeader.size + record.header.keyLength
                    offsets.formUnion(record.offset ..< record.offset + body + 8)
                    offsets.formUnion(record.end - 8 ... record.alignedEnd)
                    var page = (record.offset / 4096 + 1) * 4096
                    while page < record.end { offsets.formUnion(page - 1 ... page + 1); page += 4096 }
                    offsets.formUnion(stride(from: record.offset + body, to: record.end, by: max(1, length / 24)))
                }
            }
        }
        let cuts = offsets.filter { $0 >= start && $0 <= end }.sorted()
        return TailFixture(configuration: configuration, crashFiles: crashFiles, cleanFiles: cleanFiles, segmentName: segmentName,
                           early: early, tail: tail, cutOffsets: cuts, name: name)
    }
}

/// Applies one cut to a copy of the fixture, reopens, and checks the result.
struct TailRun {
    enum Damage: CustomStringConvertible {
        case truncate
        case fill(UInt8)
        case random

        static let overwrites: [Damage] = [.fill(0), .fill(0xFF), .random]

        var description: String {
            switch self {
            case .truncate: "truncated"
            case .fill(let byte): "overwritten with \(byte == 0 ? "zeros" : "0xFF")"
            case .random: "overwritten with random bytes"
            }
        }
    }

    enum Shutdown: CustomStringConvertible {
        /// Abandoned with `simulateCrash()`, reopened under another boot id (a power loss).
        case crash
        /// Closed cleanly.
        case clean
        var description: String { self == .crash ? "after a crash" : "after a clean close" }
    }

    enum Expected: Equatable {
        case value([UInt8])
        case absent
        case corruption
    }

    let fixture: TailFixture
    let directory: String
    var rng: SplitMix64
    let seed: UInt64

    init(fixture: TailFixture, directory: String, seed: UInt64) {
        self.fixture = fixture
        self.directory = directory
        self.seed = seed
        rng = SplitMix64(seed: seed)
    }

    /// Returns false after recording a failure.
    mutating func check(cut: Int, damage: Damage, shutdown: Shutdown, writeAfter: Bool) throws -> Bool {
        let context = "\(fixture.name): cut at byte \(cut) of \(fixture.segmentName) (\(damage), \(shutdown)), seed \(seed)"
        var files = shutdown == .crash ? fixture.crashFiles : fixture.cleanFiles
        let original = files[fixture.segmentName]!
        var segment = original
        let regionEnd = fixture.tail.last!.records.last!.alignedEnd
        switch damage {
        case .truncate:
            segment = Array(segment.prefix(cut))
        case .fill(let byte):
            for i in cut ..< min(regionEnd, segment.count) { segment[i] = byte }
        case .random:
            let noise = rng.bytes(max(0, min(regionEnd, segment.count) - cut))
            for (i, byte) in noise.enumerated() { segment[cut + i] = byte }
        }
        files[fixture.segmentName] = segment
        try FileSurgery.restore(files, into: directory)

        // Which writes of the tail are intact.
        func intact(_ record: ParsedRecord) -> Bool {
            segment.count >= record.end && segment[record.offset ..< record.end] == original[record.offset ..< record.end]
        }
        let trusted = shutdown == .clean && !(damage.isTruncation && cut < original.count)
        var expected: [[UInt8]: Expected] = [:]
        for write in fixture.early { for effect in write.effects { expected[effect.key] = effect.value.map(Expected.value) ?? .absent } }
        if trusted {
            // The clean index is used as it is: each key reads its latest record, damaged or not.
            for write in fixture.tail {
                let whole = write.records.allSatisfy(intact)
                for effect in write.effects {
                    expected[effect.key] = whole ? (effect.value.map(Expected.value) ?? .absent) : (effect.value == nil ? .absent : .corruption)
                }
            }
        } else {
            // Rebuilt from the log: the writes before the first damaged one, and nothing after it.
            for write in fixture.tail {
                guard write.records.allSatisfy(intact) else { break }
                for effect in write.effects { expected[effect.key] = effect.value.map(Expected.value) ?? .absent }
            }
        }

        var configuration = fixture.configuration
        configuration.bootID = TestStores.randomBootID(using: &rng)
        var store = try Store(path: directory, configuration: configuration)
        let report = store.recoveryReport
        let expectedTrust: Store.RecoveryReport.IndexTrust = trusted ? .clean : .rebuilt
        guard report.indexTrust == expectedTrust else {
            Issue.record("the index was \(report.indexTrust), expected \(expectedTrust) — \(context)")
            return false
        }
        if case .truncate = damage, !trusted {
            // Exactly the partial record's bytes are reported dropped.
            let firstCut = fixture.tail.flatMap(\.records).first { !intact($0) }
            let partial = firstCut.map { max(0, cut - $0.offset) } ?? 0
            let droppedExpected = firstCut == nil || fixture.tail.contains(where: { $0.records.count > 1 }) ? nil : partial
            if let droppedExpected, report.droppedTailBytes != droppedExpected {
                Issue.record("droppedTailBytes is \(report.droppedTailBytes), expected \(droppedExpected) — \(context)")
                return false
            }
        }
        guard verify(store, expected, context: context) else { return false }

        if writeAfter {
            let next: [UInt8] = Array("written after recovery at \(cut)".utf8)
            try store.set(next, forKey: Array("next".utf8))
            try store.set(next + [1], forKey: Array("early-0".utf8))
            expected[Array("next".utf8)] = .value(next)
            expected[Array("early-0".utf8)] = .value(next + [1])
            guard verify(store, expected, context: context + ", after the next write") else { return false }
            try store.close()
            store = try Store(path: directory, configuration: configuration)
            guard store.recoveryReport.indexTrust == .clean else {
                Issue.record("a clean close after recovery left an untrusted index — \(context)")
                return false
            }
            guard verify(store, expected, context: context + ", after the next write and a reopen") else { return false }
        }
        try store.close()
        return true
    }

    private func verify(_ store: Store, _ expected: [[UInt8]: Expected], context: String) -> Bool {
        for key in expected.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let want = expected[key]!
            let name = String(decoding: key, as: UTF8.self)
            do {
                let got = try store.value(forKey: key)
                let gotExpected: Expected = got.map(Expected.value) ?? .absent
                if gotExpected != want {
                    Issue.record("key \(name): got \(got.map { "\($0.count) bytes" } ?? "nil"), expected \(want.summary) — \(context)")
                    return false
                }
            } catch let error as KVError where error.code == .corruption && want == .corruption {
                if error.path == nil || error.offset == nil {
                    Issue.record("key \(name): a corruption error without path or offset: \(error) — \(context)")
                    return false
                }
            } catch {
                Issue.record("key \(name): threw \(error), expected \(want.summary) — \(context)")
                return false
            }
        }
        return true
    }
}

private extension TailRun.Damage {
    var isTruncation: Bool { if case .truncate = self { true } else { false } }
}

private extension TailRun.Expected {
    var summary: String {
        switch self {
        case .value(let bytes): "\(bytes.count) bytes"
        case .absent: "nil"
        case .corruption: "a corruption error"
        }
    }
}
