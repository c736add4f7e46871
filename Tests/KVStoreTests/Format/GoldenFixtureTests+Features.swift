@testable import KVStore
import Foundation
import Testing

/// The feature flags of the STORE file (FORMAT.md §2.1, §9), against the fixture store.
///
/// The flagged stores are built at test time: a copy of `Fixtures/store-v1` whose STORE file has
/// one feature bit set and its checksum recomputed, as a newer build would have written it. Those
/// STORE files are pinned to literals (checksums computed outside the library), so the layout of
/// the feature fields is pinned like the rest of the format. The bits used are the highest of each
/// set, which features are assigned last (from bit 0 up), so that they stay unknown to this build.
extension GoldenFixtureTests {
    static let unknownIncompatibleBit: UInt32 = 1 << 31
    static let unknownCompatibleBit: UInt16 = 1 << 15
    static let unknownReadOnlyCompatibleBit: UInt16 = 1 << 15

    /// `storeFile` with incompatibleFeatures = bit 31.
    static let storeFileWithIncompatibleFeature = hex("4b5653544f524500 0100 0000 00000080 8877665544332211 0000000000000000 00f1536500000000 0000 0000 5f49260b")
    /// `storeFile` with compatibleFeatures = bit 15.
    static let storeFileWithCompatibleFeature = hex("4b5653544f524500 0100 0000 00000000 8877665544332211 0000000000000000 00f1536500000000 0080 0000 86fb0bd1")
    /// `storeFile` with readOnlyCompatibleFeatures = bit 15.
    static let storeFileWithReadOnlyCompatibleFeature = hex("4b5653544f524500 0100 0000 00000000 8877665544332211 0000000000000000 00f1536500000000 0000 0080 bdb7dad8")

    /// A STORE file's bytes with `bits` ORed in at `offset` (little-endian) and the checksum
    /// recomputed: what a newer build that uses those features writes.
    static func settingFeature(_ bits: UInt64, width: Int, at offset: Int, in bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for i in 0..<width { out[offset + i] |= UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i))) }
        return withStoreChecksum(out)
    }

    /// A STORE file's bytes with the checksum at 44 recomputed over bytes 0 ..< 44.
    static func withStoreChecksum(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        let crc = CRC32C.checksum(Array(out[0 ..< 44]))
        for i in 0..<4 { out[44 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        return out
    }

    /// Copies the fixture store into `directory` with its STORE file replaced by `store`.
    static func copyFixture(into directory: String, store: [UInt8]) throws {
        try FileSurgery.copyDirectory(fixtureDirectory(), to: directory)
        try FileSurgery.write(store, to: directory + "/" + FileNames.manifest)
    }

    static func readOnlyConfiguration() -> Store.Configuration {
        var configuration = fixtureConfiguration
        configuration.readOnly = true
        return configuration
    }

    /// Every key of the fixture reads back as expected, through `value(forKey:)` and a cursor.
    static func expectFixtureContents(_ store: Store) throws {
        for (key, value) in expectedPairs { #expect(try store.value(forKey: key) == value, "\(key)") }
        for key in absentKeys { #expect(try store.value(forKey: key) == nil, "\(key)") }
        var seen: [String: [UInt8]] = [:]
        var cursor = try store.entries()
        while let (key, value) = try cursor.next() { seen[String(decoding: key, as: UTF8.self)] = value }
        #expect(seen == expectedPairs)
    }

    static func openError(_ directory: String, _ configuration: Store.Configuration) -> KVError? {
        do {
            let store = try Store(path: directory, configuration: configuration)
            try? store.close()
            return nil
        } catch {
            return error as? KVError
        }
    }

    // MARK: - Layout

    @Test func storeFileFeatureFieldsLayout() throws {
        #expect(Features.knownIncompatible & Self.unknownIncompatibleBit == 0)
        #expect(Features.knownCompatible & Self.unknownCompatibleBit == 0)
        #expect(Features.knownReadOnlyCompatible & Self.unknownReadOnlyCompatibleBit == 0)
        // A 1.0 store has no feature: the fields that were reserved are zero, and stay so.
        let plain = try Manifest.decode(Self.storeFile, path: "STORE")
        #expect(plain.incompatibleFeatures == 0 && plain.compatibleFeatures == 0 && plain.readOnlyCompatibleFeatures == 0)
        #expect(plain.encode() == Self.storeFile)

        let cases: [([UInt8], [UInt8], Manifest)] = [
            (Self.storeFileWithIncompatibleFeature, Self.settingFeature(UInt64(Self.unknownIncompatibleBit), width: 4, at: 12, in: Self.storeFile),
             Manifest(storeID: Self.storeID, hashSeed: Self.hashSeed, createdAt: Self.createdAt, formatMinor: 0, incompatibleFeatures: Self.unknownIncompatibleBit)),
            (Self.storeFileWithCompatibleFeature, Self.settingFeature(UInt64(Self.unknownCompatibleBit), width: 2, at: 40, in: Self.storeFile),
             Manifest(storeID: Self.storeID, hashSeed: Self.hashSeed, createdAt: Self.createdAt, formatMinor: 0, compatibleFeatures: Self.unknownCompatibleBit)),
            (Self.storeFileWithReadOnlyCompatibleFeature, Self.settingFeature(UInt64(Self.unknownReadOnlyCompatibleBit), width: 2, at: 42, in: Self.storeFile),
             Manifest(storeID: Self.storeID, hashSeed: Self.hashSeed, createdAt: Self.createdAt, formatMinor: 0, readOnlyCompatibleFeatures: Self.unknownReadOnlyCompatibleBit)),
        ]
        for (literal, patched, manifest) in cases {
            #expect(literal.count == Manifest.size)
            #expect(patched == literal)
            #expect(manifest.encode() == literal)
            #expect(try Manifest.decode(literal, path: "STORE") == manifest)
        }
    }

    @Test func flippedFeatureBitWithoutItsChecksumIsCorruptionNotANewerFormat() throws {
        for offset in [12, 15, 40, 43] {
            var bytes = Self.storeFile
            bytes[offset] ^= 0x01
            let error = try #require(throws: KVError.self) { try Manifest.decode(bytes, path: "STORE") }
            #expect(error.code == .corruption, "byte \(offset)")
        }
    }

    /// Bytes from disk never trap: any STORE file with a valid magic and checksum decodes, and its
    /// features are judged without trapping.
    @Test func arbitraryFeatureBitsNeverTrap() throws {
        var rng = SplitMix64(seed: 8)
        for _ in 0..<2_000 {
            var bytes = Self.storeFile
            for offset in 8 ..< 44 where Bool.random(using: &rng) { bytes[offset] = UInt8.random(in: 0...255, using: &rng) }
            bytes[8] = 1; bytes[9] = 0
            let manifest = try Manifest.decode(Self.withStoreChecksum(bytes), path: "STORE")
            for readOnly in [false, true] {
                do { try manifest.checkFeatures(readOnly: readOnly, path: "STORE") } catch {
                    #expect(error.code == .incompatibleFormat)
                    #expect(manifest.unknownIncompatibleFeatures != 0 || (!readOnly && manifest.unknownReadOnlyCompatibleFeatures != 0))
                }
            }
        }
    }

    @Test func errorNamesEveryUnknownBit() throws {
        let manifest = Manifest(storeID: 1, hashSeed: 0, createdAt: 0, incompatibleFeatures: 1 << 31 | 1 << 30)
        let error = try #require(throws: KVError.self) { try manifest.checkFeatures(readOnly: true, path: "STORE") }
        #expect(error.code == .incompatibleFormat)
        #expect(error.message.contains("incompatibleFeatures bits 30, 31 (0xc0000000)"), "\(error.message)")
        #expect(error.path == "STORE")
    }

    // MARK: - Opening flagged stores

    @Test func unknownIncompatibleFeatureIsRefusedAndNothingChanges() throws {
        try withScratchDirectory { directory in
            try Self.copyFixture(into: directory, store: Self.storeFileWithIncompatibleFeature)
            let before = try FileSurgery.snapshot(directory)
            for configuration in [Self.fixtureConfiguration, Self.readOnlyConfiguration()] {
                let error = try #require(Self.openError(directory, configuration), "readOnly \(configuration.readOnly): opened")
                #expect(error.code == .incompatibleFormat)
                #expect(error.message.contains("incompatibleFeatures bit 31 (0x80000000)"), "\(error.message)")
                #expect(error.path == directory + "/" + FileNames.manifest)
                // Every byte as it was, and no file added (not even LOCK).
                #expect(try FileSurgery.snapshot(directory) == before)
            }
            // A newer minor version does not change that: features decide.
            var newerMinor = Self.storeFileWithIncompatibleFeature
            newerMinor[10] = UInt8(FormatVersion.minor + 1)
            try FileSurgery.write(Self.withStoreChecksum(newerMinor), to: directory + "/" + FileNames.manifest)
            let snapshot = try FileSurgery.snapshot(directory)
            #expect(Self.openError(directory, Self.fixtureConfiguration)?.code == .incompatibleFormat)
            #expect(try FileSurgery.snapshot(directory) == snapshot)
            // The refusal released the lock: with the 1.0 STORE file back, the store opens.
            try FileSurgery.write(Self.storeFile, to: directory + "/" + FileNames.manifest)
            let store = try Store(path: directory, configuration: Self.fixtureConfiguration)
            #expect(store.recoveryReport.indexTrust == .clean)
            try Self.expectFixtureContents(store)
            try store.close()
        }
    }

    @Test func unknownCompatibleFeatureIsIgnoredAndKept() throws {
        try withScratchDirectory { directory in
            try Self.copyFixture(into: directory, store: Self.storeFileWithCompatibleFeature)
            let before = try FileSurgery.snapshot(directory)
            // Read-only: opens, reads everything, changes nothing.
            var store = try Store(path: directory, configuration: Self.readOnlyConfiguration())
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(store.recoveryReport.problems.isEmpty)
            try Self.expectFixtureContents(store)
            try store.close()
            #expect(try FileSurgery.snapshot(directory) == before)
            // Writable: opens with its index as it is, reads everything, writes, and keeps the flag.
            store = try Store(path: directory, configuration: Self.fixtureConfiguration)
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(store.recoveryReport.problems.isEmpty)
            try Self.expectFixtureContents(store)
            try store.set("new", forKey: "added")
            try store.close()
            #expect(try FileSurgery.read(directory + "/" + FileNames.manifest) == Self.storeFileWithCompatibleFeature)
            store = try Store(path: directory, configuration: Self.fixtureConfiguration)
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(try store.value(forKey: "added") == Array("new".utf8))
            for (key, value) in Self.expectedPairs { #expect(try store.value(forKey: key) == value, "\(key)") }
            try store.close()
            #expect(try FileSurgery.read(directory + "/" + FileNames.manifest) == Self.storeFileWithCompatibleFeature)
        }
    }

    @Test func unknownReadOnlyCompatibleFeatureIsRefusedWritableAndOpensReadOnly() throws {
        try withScratchDirectory { directory in
            try Self.copyFixture(into: directory, store: Self.storeFileWithReadOnlyCompatibleFeature)
            let before = try FileSurgery.snapshot(directory)
            let error = try #require(Self.openError(directory, Self.fixtureConfiguration), "opened for writing")
            #expect(error.code == .incompatibleFormat)
            #expect(error.message.contains("readOnlyCompatibleFeatures bit 15 (0x8000)"), "\(error.message)")
            #expect(error.message.contains("read-only"), "\(error.message)")
            #expect(error.path == directory + "/" + FileNames.manifest)
            #expect(try FileSurgery.snapshot(directory) == before)

            let store = try Store(path: directory, configuration: Self.readOnlyConfiguration())
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(store.recoveryReport.problems.isEmpty)
            try Self.expectFixtureContents(store)
            #expect { try store.set("x", forKey: "y") } throws: { ($0 as? KVError)?.code == .readOnly }
            try store.close()
            #expect(try FileSurgery.snapshot(directory) == before)
        }
    }
}
