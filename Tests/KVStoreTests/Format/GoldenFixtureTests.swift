@testable import KVStore
import Foundation
import Testing

/// Pins the on-disk format (FORMAT.md) to exact bytes, so that any change to it is caught:
/// - checksums, the key hash and the location length code against published or hand-computed values;
/// - STORE, segment header and record bytes against literals computed outside the library (the
///   records are those of FORMAT.md's worked example);
/// - a whole store in `Fixtures/store-v1`, written by the library for a fixed list of operations
///   with a fixed store id, hash seed and boot id: the generator must reproduce it byte for byte,
///   its hint and index files are parsed field by field here, and a copy of it must open and read
///   back the expected keys (with its index, rebuilt from its hints, and rebuilt by scanning).
///
/// After a deliberate format change, regenerate the fixture with
/// `KVSTORE_REGENERATE_FIXTURES=1 swift test --filter GoldenFixtureTests` and bump the version.
@Suite("Format: golden fixtures")
struct GoldenFixtureTests {
    // MARK: - Checksums and hashes

    @Test func crc32cMatchesTheCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)  // RFC 3720 B.4
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
        // Extending is the same as checksumming the concatenation.
        let whole = Array("The quick brown fox jumps over the lazy dog".utf8)
        let first = CRC32C.checksum(Array(whole.prefix(10)))
        let extended = whole.dropFirst(10).withUnsafeBytes { CRC32C.extend(first, $0.baseAddress!, count: $0.count) }
        #expect(extended == CRC32C.checksum(whole))
    }

    /// wyhash final 4 with its default secrets: the test vectors of wyhash's `test_vector.cpp`
    /// (seed = the vector's index), and values of the reference C implementation with seed 0 for
    /// every length branch (0, 1-3, 4-16, 17-48, 49+).
    @Test func wyhashMatchesTheReference() {
        let vectors: [(UInt64, String, UInt64)] = [
            (0, "", 0x0409_638e_e2bd_e459),
            (1, "a", 0xa841_2d09_1b5f_e0a9),
            (2, "abc", 0x32dd_92e4_b291_5153),
            (3, "message digest", 0x8619_1240_89a3_a16b),
            (4, "abcdefghijklmnopqrstuvwxyz", 0x7a43_afb6_1d7f_5f40),
            (5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 0xff42_329b_90e5_0d58),
            (6, "12345678901234567890123456789012345678901234567890123456789012345678901234567890", 0xc39c_ab13_b115_aad3),
            (0, "a", 0x28d2_0533_09d2_8531),
            (0, "abc", 0x02a4_f1d7_cb51_6c72),
            (0, "abcd", 0x48df_e2b0_9ab5_2113),
            (0, "key-0001", 0xedf7_fafc_d8da_2b9e),
            (0, "hello, world", 0xa62f_ebd6_4a68_4677),
            (0, "0123456789abcdef", 0xc304_e72c_387c_d229),
            (0, "0123456789abcdefg", 0xb496_f8f3_0660_0195),
            (0, "012345678901234567890123456789012345678901234567", 0x7146_45b5_7e7f_ee92),
            (0, "0123456789012345678901234567890123456789012345678", 0xcc9b_6482_5fb6_13df),
        ]
        for (seed, text, expected) in vectors {
            let hash = Array(text.utf8).withUnsafeBytes { WyHash.hash($0, seed: seed) }
            #expect(hash == expected, "wyhash(\"\(text)\", seed \(seed)) = 0x\(String(hash, radix: 16))")
            let indexHash = Array(text.utf8).withUnsafeBytes { KeyHasher.wyhash(seed: seed).hash($0) }
            #expect(indexHash == expected, "the index hashes \"\(text)\" as wyhash")
        }
        // 0 and 1 mark empty and removed slots: such hashes become 2 and 3.
        let key = Array("k".utf8)
        #expect(key.withUnsafeBytes { KeyHasher.constant(0).hash($0) } == 2)
        #expect(key.withUnsafeBytes { KeyHasher.constant(1).hash($0) } == 3)
        #expect(key.withUnsafeBytes { KeyHasher.constant(42).hash($0) } == 42)
    }

    // MARK: - Location words

    @Test func locationLengthCodeIsExactBelow16KiBAndWithinATenthOfAPercentAbove() {
        #expect(Location.encodeLength(100) == 13)
        #expect(Location.decodeLength(13) == 104)
        #expect(Location.encodeLength(16_376) == 2047)  // the largest exact length: 2047 units of 8
        #expect(Location.encodeLength(16_384) == 1 << 11 | 1024)
        #expect(Location.decodeLength(1 << 11 | 1024) == 16_384)
        // A 256 KiB value with a 10-byte key: 262,186 bytes → 1025 × 2^5 units of 8 = 262,400.
        #expect(Location.encodeLength(262_186) == 5 << 11 | 1025)
        #expect(Location.decodeLength(5 << 11 | 1025) == 262_400)
        #expect(Location.encodeLength(256 << 10) == 5 << 11 | 1024)
        #expect(Location.decodeLength(5 << 11 | 1024) == 256 << 10)

        var rng = SplitMix64(seed: 9)
        var lengths = Array(32...20_000) + [1 << 30, (1 << 31) - 1, 64 << 20, (64 << 20) + 33]
        for _ in 0..<20_000 { lengths.append(Int.random(in: 16_384 ... (1 << 31), using: &rng)) }
        for length in lengths {
            let decoded = Location.decodeLength(Location.encodeLength(length))
            if length <= 16_376 {
                #expect(decoded == alignedTo8(length), "length \(length) → \(decoded)")
            } else {
                #expect(decoded >= length && Double(decoded - length) < Double(length) * 0.001 + 8, "length \(length) → \(decoded)")
            }
        }
    }

    @Test func locationWordPacksSegmentOffsetAndLength() {
        let location = Location(segmentID: 3, offset: 4096, recordLength: 100)
        #expect(location.word == 3 << 44 | 512 << 16 | 13)
        #expect(location.word == 0x0000_3000_0200_000D)
        #expect(Location(word: location.word) == location)
        let far = Location(segmentID: Limits.maximumSegmentID, offset: Limits.maximumSegmentSize - 8, recordLength: 40)
        #expect(Location(word: far.word) == far)
        #expect(far.word >> 44 == UInt64(Limits.maximumSegmentID))
    }

    // MARK: - File layouts from literals

    static let storeID: UInt64 = 0x1122_3344_5566_7788
    static let hashSeed: UInt64 = 0
    static let createdAt: UInt64 = 1_700_000_000
    static let bootID: [UInt8] = Array(1...16)

    /// The 1.0 STORE file for `storeID`, `hashSeed` and `createdAt` (checksums computed independently).
    static let storeFile = hex("4b5653544f5245000100000000000000 8877665544332211 0000000000000000 00f1536500000000 00000000 c58c2c5a")
    /// The same store after this build recorded compact hints: 1.1, compatible feature bit 0.
    static let storeFileWithCompactHints = hex("4b5653544f5245000100010000000000 8877665544332211 0000000000000000 00f1536500000000 01000000 acad9df9")
    /// What a 1.2 build records: the same feature, minor version 2.
    static let storeFileWithCompactHints12 = hex("4b5653544f5245000100020000000000 8877665544332211 0000000000000000 00f1536500000000 01000000 df31807a")
    /// The header of segment 1 of that store, as a 1.0 build wrote it (the 1.0 fixture)...
    static let segmentHeader10 = hex("4b565345474d4e54 0100 0000 01000000 8877665544332211 00000000 38a7b2ed")
    /// ...and as this build writes it.
    static let segmentHeader11 = hex("4b565345474d4e54 0100 0100 01000000 8877665544332211 00000000 13a5dbe2")
    /// Since 1.2 (dictionaries), new files carry minor version 2.
    static let segmentHeader = hex("4b565345474d4e54 0100 0200 01000000 8877665544332211 00000000 6ea360f3")
    /// FORMAT.md §7: set("red","A"), set("green","B"), set("blue","A"), remove("B"),
    /// batch { set("1","C"); remove("A") }: the records from offset 32 to 312.
    static let workedExampleRecords = hex("""
        8effec76 01 00 0000 0100000000000000 01000000 03000000 03000000 00000000 41 726564 00000000
        ec6ca595 01 00 0000 0200000000000000 01000000 05000000 05000000 00000000 42 677265656e 0000
        13e29692 01 00 0000 0300000000000000 01000000 04000000 04000000 00000000 41 626c7565 000000
        e3add2e6 02 00 0000 0400000000000000 01000000 00000000 00000000 00000000 42 00000000000000
        816720c1 03 00 0000 0500000000000000 00000000 08000000 08000000 00000000 02000000 00000000
        316d1089 01 00 0000 0600000000000000 01000000 01000000 01000000 00000000 43 31 000000000000
        b002df87 02 00 0000 0700000000000000 01000000 00000000 00000000 00000000 41 00000000000000
        """)

    static func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.filter(\.isHexDigit).utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0 ..< $0 + 2], as: UTF8.self), radix: 16)! }
    }

    @Test func storeFileLayout() throws {
        #expect(Self.storeFile.count == Manifest.size)
        let manifest = Manifest(storeID: Self.storeID, hashSeed: Self.hashSeed, createdAt: Self.createdAt, formatMinor: 0)
        #expect(manifest.encode() == Self.storeFile)
        #expect(try Manifest.decode(Self.storeFile, path: "STORE") == manifest)
        let recorded = Manifest(storeID: Self.storeID, hashSeed: Self.hashSeed, createdAt: Self.createdAt, formatMinor: 1,
                                compatibleFeatures: Features.compactHints)
        #expect(recorded.encode() == Self.storeFileWithCompactHints)
        #expect(try Manifest.decode(Self.storeFileWithCompactHints, path: "STORE") == recorded)
        var recorded12 = recorded
        recorded12.formatMinor = 2
        #expect(recorded12.encode() == Self.storeFileWithCompactHints12)
    }

    @Test func segmentHeaderLayout() throws {
        let header = SegmentHeader(segmentID: 1, storeID: Self.storeID)
        #expect(header.formatMinor == 2)
        #expect(header.encode() == Self.segmentHeader)
        #expect(try Self.segmentHeader.withUnsafeBytes { try SegmentHeader.decode($0, path: "seg") } == header)
        var older11 = header
        older11.formatMinor = 1
        #expect(older11.encode() == Self.segmentHeader11)
        var older = header
        older.formatMinor = 0
        #expect(older.encode() == Self.segmentHeader10)
        #expect(try Self.segmentHeader10.withUnsafeBytes { try SegmentHeader.decode($0, path: "seg") } == older)
    }

    @Test func recordLayoutOfTheWorkedExample() throws {
        #expect(Self.workedExampleRecords.count == 312 - 32)
        try withScratchDirectory { directory in
            try FileSurgery.write(Self.storeFile, to: directory + "/" + FileNames.manifest)
            let store = try Store(path: directory, configuration: TestStores.configuration(bootID: Self.bootID))
            try store.set("red", forKey: "A")
            try store.set("green", forKey: "B")
            try store.set("blue", forKey: "A")
            try store.removeValue(forKey: "B")
            try store.write { batch in
                batch.set("1", forKey: "C")
                batch.removeValue(forKey: "A")
            }
            try store.close()
            let segment = try FileSurgery.read(directory + "/" + FileNames.segment(1))
            #expect(segment.count == 312, "the closed segment is \(segment.count) bytes")
            #expect(Array(segment.prefix(32)) == Self.segmentHeader)
            #expect(Array(segment.dropFirst(32)) == Self.workedExampleRecords)
        }
    }

    // MARK: - The fixture store

    static let lz4Value = Array(repeatElement(Array("abcd".utf8), count: 25).joined())
    static let bigValue = [UInt8](repeating: 0x7A, count: 65_200)
    static let expectedPairs: [String: [UInt8]] = [
        "C": Array("1".utf8), "lz4": lz4Value, "empty": [], "big": bigValue, "after-roll": Array("x".utf8),
    ]
    static let absentKeys = ["A", "B"]
    static var fixtureConfiguration: Store.Configuration {
        TestStores.configuration(compression: .lz4, segmentSize: 64 << 10, bootID: bootID)
    }
    static let fixtureFiles = ["STORE", "00000001.seg", "00000001.hint", "00000002.seg", "index"]
    /// The fixture a 1.0 build wrote (padded hint entries, version 1.0 everywhere), kept as it was so
    /// that such stores keep opening; the one a 1.1 build wrote (compact hints); and the one this
    /// build writes (1.2: the same bytes but for the minor versions).
    static let fixture10 = "store-v1"
    static let fixture11 = "store-v1.1"
    static let fixture12 = "store-v1.2"

    /// Writes the fixture store into `directory` (which must not hold a store).
    static func generateFixture(into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileSurgery.write(storeFile, to: directory + "/" + FileNames.manifest)
        var store = try Store(path: directory, configuration: fixtureConfiguration)
        try store.set("red", forKey: "A")
        try store.set("green", forKey: "B")
        try store.set("blue", forKey: "A")
        try store.removeValue(forKey: "B")
        try store.write { batch in
            batch.set("1", forKey: "C")
            batch.removeValue(forKey: "A")
        }
        try store.set(lz4Value, forKey: "lz4")
        try store.set([UInt8](), forKey: "empty")
        try store.close()
        // Reopened: a record that does not fit what is left of segment 1 seals it (and gets it a hint).
        store = try Store(path: directory, configuration: fixtureConfiguration)
        try store.set(bigValue, forKey: "big")
        try store.set("x", forKey: "after-roll")
        try store.close()
    }

    static func fixtureDirectory(_ name: String = fixture10) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return url.path + "/" + name
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["KVSTORE_REGENERATE_FIXTURES"] != nil))
    func regenerateFixtureStore() throws {
        let target = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/" + Self.fixture12).path
        try withScratchDirectory { directory in
            try Self.generateFixture(into: directory + "/store")
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for name in Self.fixtureFiles { try FileSurgery.write(FileSurgery.read(directory + "/store/" + name), to: target + "/" + name) }
        }
    }

    @Test func fixtureStoreIsReproducedByteForByte() throws {
        let fixture = try Self.fixtureDirectory(Self.fixture12)
        try withScratchDirectory { directory in
            try Self.generateFixture(into: directory + "/store")
            let generated = try FileSurgery.names(in: directory + "/store")
            #expect(generated == (Self.fixtureFiles + [FileNames.lock]).sorted())
            for name in Self.fixtureFiles {
                let want = try FileSurgery.read(fixture + "/" + name)
                let got = try FileSurgery.read(directory + "/store/" + name)
                let firstDifference = (0..<min(want.count, got.count)).first { want[$0] != got[$0] } ?? min(want.count, got.count)
                #expect(got == want, "\(name): \(got.count) bytes written, the fixture has \(want.count); first difference at byte \(firstDifference)")
            }
        }
    }

    @Test(arguments: [fixture10, fixture11, fixture12])
    func fixtureSegmentsHoldTheExpectedRecords(_ name: String) throws {
        let fixture = try Self.fixtureDirectory(name)
        let store = [Self.fixture10: Self.storeFile, Self.fixture11: Self.storeFileWithCompactHints][name] ?? Self.storeFileWithCompactHints12
        #expect(try FileSurgery.read(fixture + "/STORE") == store)
        let segment1 = try FileSurgery.read(fixture + "/00000001.seg")
        let segmentHeader = [Self.fixture10: Self.segmentHeader10, Self.fixture11: Self.segmentHeader11][name] ?? Self.segmentHeader
        #expect(Array(segment1.prefix(32)) == segmentHeader)
        #expect(Array(segment1[32 ..< 312]) == Self.workedExampleRecords)

        let records1 = try FileSurgery.records(inSegment: fixture + "/00000001.seg")
        #expect(records1.count == 9)
        #expect(segment1.count == records1.last?.alignedEnd, "a sealed segment ends with its last record")
        let lz4 = try #require(records1.first { $0.key == Array("lz4".utf8) })
        #expect(lz4.header.kind == .put && lz4.header.isCompressed && lz4.header.rawValueLength == 100)
        #expect(lz4.header.sequence == 8)
        #expect(lz4.header.storedValueLength < 100)
        var decompressed = [UInt8](repeating: 0, count: 100)
        let ok = lz4.storedValue.withUnsafeBytes { source in
            decompressed.withUnsafeMutableBytes { LZ4.decompress(source, into: $0.baseAddress!, rawLength: 100) }
        }
        #expect(ok && decompressed == Self.lz4Value)
        let empty = try #require(records1.last)
        #expect(empty.key == Array("empty".utf8) && empty.header.sequence == 9)
        #expect(empty.header.storedValueLength == 0 && empty.header.rawValueLength == 0 && empty.header.flags == 0)

        let segment2 = try FileSurgery.read(fixture + "/00000002.seg")
        #expect(Array(segment2.prefix(12)) == Array(segmentHeader.prefix(12)))
        #expect(segment2[12] == 2)
        let records2 = try FileSurgery.records(inSegment: fixture + "/00000002.seg")
        #expect(records2.map { String(decoding: $0.key, as: UTF8.self) } == ["big", "after-roll"])
        #expect(records2.map(\.header.sequence) == [10, 11])
        #expect(records2[0].header.isCompressed && records2[0].header.rawValueLength == Self.bigValue.count)
        #expect(segment2.count == records2.last?.alignedEnd)
    }

    /// Little-endian fields of a file's bytes.
    struct Fields {
        let bytes: [UInt8]
        var count: Int { bytes.count }
        subscript(_ i: Int) -> UInt8 { bytes[i] }
        subscript(_ r: Range<Int>) -> ArraySlice<UInt8> { bytes[r] }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
        func prefix(_ n: Int) -> ArraySlice<UInt8> { bytes.prefix(n) }
        func suffix(_ n: Int) -> ArraySlice<UInt8> { bytes.suffix(n) }
    }

    /// The hint of segment 1 of a fixture, its header checked (both layouts share it), and the
    /// segment's records it must list.
    static func hintOfSegment1(_ name: String, magic: String, minor: Int) throws -> (Fields, [ParsedRecord]) {
        let fixture = try fixtureDirectory(name)
        let hint = Fields(bytes: try FileSurgery.read(fixture + "/00000001.hint"))
        let segment = try FileSurgery.read(fixture + "/00000001.seg")
        let records = try FileSurgery.records(inSegment: fixture + "/00000001.seg").filter { $0.header.kind != .batch }
        #expect(Array(hint.prefix(8)) == Array(magic.utf8))
        #expect(hint.u16(8) == 1 && hint.u16(10) == minor)
        #expect(hint.u32(12) == 1)
        #expect(hint.u64(16) == storeID)
        #expect(hint.u32(24) == records.count)
        #expect(hint.u32(28) == segment.count)
        return (hint, records)
    }

    /// The padded entries of a 1.0 hint file, as the 1.0 fixture holds them.
    @Test func fixtureHintFileLayout() throws {
        let (hint, records) = try Self.hintOfSegment1(Self.fixture10, magic: "KVHINTS\0", minor: 0)
        func u16(_ at: Int) -> Int { hint.u16(at) }
        func u32(_ at: Int) -> Int { hint.u32(at) }
        func u64(_ at: Int) -> UInt64 { hint.u64(at) }
        var at = 32
        for record in records {
            #expect(u64(at) == record.header.sequence)
            #expect(u32(at + 8) == record.offset)
            #expect(u32(at + 12) == record.length)
            #expect(u32(at + 16) == record.key.count)
            #expect(hint[at + 20] == record.header.kind.rawValue)
            #expect(hint[at + 21 ..< at + 24].allSatisfy { $0 == 0 })
            #expect(Array(hint[at + 24 ..< at + 24 + record.key.count]) == record.key)
            let padded = alignedTo8(record.key.count)
            #expect(hint[at + 24 + record.key.count ..< at + 24 + padded].allSatisfy { $0 == 0 })
            at += 24 + padded
        }
        #expect(at == hint.count - 8)
        #expect(u32(at) == Int(CRC32C.checksum(Array(hint.bytes.prefix(at)))))
        #expect(Array(hint.suffix(4)) == Array("HEND".utf8))
    }

    /// The compact entries this build writes: 18 bytes + key, no padding.
    @Test func fixtureCompactHintFileLayout() throws {
        let (hint, records) = try Self.hintOfSegment1(Self.fixture11, magic: "KVHINT2\0", minor: 1)
        func u16(_ at: Int) -> Int { hint.u16(at) }
        func u32(_ at: Int) -> Int { hint.u32(at) }
        func u64(_ at: Int) -> UInt64 { hint.u64(at) }
        var at = 32
        for record in records {
            #expect(u64(at) == record.header.sequence)
            #expect(u32(at + 8) == record.offset)
            #expect(u32(at + 12) & 0x7FFF_FFFF == record.length)
            #expect(u32(at + 12) >> 31 == (record.header.kind == .delete ? 1 : 0))
            #expect(u16(at + 16) + 1 == record.key.count)
            #expect(Array(hint[at + 18 ..< at + 18 + record.key.count]) == record.key)
            at += 18 + record.key.count
        }
        #expect(at == hint.count - 8)
        #expect(u32(at) == Int(CRC32C.checksum(Array(hint.bytes.prefix(at)))))
        #expect(Array(hint.suffix(4)) == Array("HEND".utf8))
        // 9 records with keys of 1 to 5 bytes: 18 bytes + key each, where 1.0 took 24 + key + padding.
        let padded = try FileSurgery.read(Self.fixtureDirectory() + "/00000001.hint")
        #expect(hint.bytes.count < padded.count)
    }

    @Test func fixtureIndexFileLayout() throws {
        let fixture = try Self.fixtureDirectory()
        let index = try FileSurgery.read(fixture + "/index")
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(index[at + $1]) << (8 * UInt32($1)) } }
        func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
        let segment2Size = try FileSurgery.size(fixture + "/00000002.seg")

        #expect(index.count == 4096 + 16 * 1024)
        #expect(Array(index.prefix(8)) == Array("KVINDEX\0".utf8))
        #expect(u32(8) == 1)  // 1.0
        var header = Array(index.prefix(128))
        header[12 ..< 16] = [0, 0, 0, 0]
        #expect(u32(12) == CRC32C.checksum(header))
        #expect(u64(16) == Self.storeID)
        #expect(u64(24) == Self.hashSeed)
        #expect(u64(32) == 1024)
        #expect(u64(40) == 5)  // C, lz4, empty, big, after-roll
        #expect(u64(48) == 2)  // B and A removed
        #expect(u32(64) == 2)  // closed cleanly
        #expect(Array(index[72 ..< 88]) == Self.bootID)
        #expect(u64(88) == 2 << 32 | UInt64(segment2Size))
        #expect(u64(96) == 11)
        #expect(index[136 ..< 4096].allSatisfy { $0 == 0 })

        // Each live key sits on its probe sequence with the wyhash of its bytes (seed 0) and a
        // location word naming its record.
        var occupied = 0
        for slot in 0..<1024 where u64(4096 + slot * 16) > 1 { occupied += 1 }
        #expect(occupied == 5)
        var records: [[UInt8]: (segment: UInt32, record: ParsedRecord)] = [:]
        for segment: UInt32 in [1, 2] {
            for record in try FileSurgery.records(inSegment: fixture + "/" + FileNames.segment(segment)) { records[record.key] = (segment, record) }
        }
        for key in Self.expectedPairs.keys.sorted() {
            let bytes = Array(key.utf8)
            let hash = bytes.withUnsafeBytes { WyHash.hash($0, seed: 0) }
            var slot = Int(hash.multipliedFullWidth(by: 1024).high)
            while u64(4096 + slot * 16) != hash && u64(4096 + slot * 16) != 0 { slot = (slot + 1) % 1024 }
            #expect(u64(4096 + slot * 16) == hash, "no slot for \(key)")
            let (segment, record) = try #require(records[bytes])
            let word = u64(4096 + slot * 16 + 8)
            #expect(word >> 44 == UInt64(segment), "\(key)")
            #expect(Int((word >> 16) & 0x0FFF_FFFF) * 8 == record.offset, "\(key)")
            #expect(Location.decodeLength(UInt16(truncatingIfNeeded: word)) >= record.length, "\(key)")
        }
        // The worked example's C: segment 1, offset 232, 34 bytes, length code 5.
        let c = try #require(records[Array("C".utf8)])
        #expect(c.record.offset == 232 && c.record.length == 34 && Location.encodeLength(34) == 5)
    }

    @Test(arguments: [fixture10, fixture11, fixture12], ["clean index", "rebuilt from hints", "rebuilt by scanning"])
    func fixtureStoreOpensAndReadsTheExpectedKeys(_ name: String, _ mode: String) throws {
        let fixture = try Self.fixtureDirectory(name)
        try withScratchDirectory { directory in
            try FileSurgery.copyDirectory(fixture, to: directory)
            if mode != "clean index" { try FileSurgery.remove(directory + "/index") }
            if mode == "rebuilt by scanning" { try FileSurgery.remove(directory + "/00000001.hint") }
            let store = try Store(path: directory, configuration: Self.fixtureConfiguration)
            #expect(store.recoveryReport.indexTrust == (mode == "clean index" ? .clean : .rebuilt))
            #expect(store.recoveryReport.problems.isEmpty)
            for (key, value) in Self.expectedPairs { #expect(try store.value(forKey: key) == value, "\(key)") }
            for key in Self.absentKeys { #expect(try store.value(forKey: key) == nil, "\(key)") }
            var seen: [String: [UInt8]] = [:]
            var cursor = try store.entries()
            while let (key, value) = try cursor.next() { seen[String(decoding: key, as: UTF8.self)] = value }
            #expect(seen == Self.expectedPairs)
            try store.close()
        }
    }
}
