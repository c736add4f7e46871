@testable import KVStore
import Foundation
import Testing

/// The fixture of a store whose values are compressed against a trained dictionary (format 1.2,
/// incompatible feature `dictionaries`): what this build wrote stays readable, and what a build
/// that does not know the feature does with it is pinned.
extension GoldenFixtureTests {
    static let fixtureDictionaries = "store-v1.2-dictionary"
    static let dictionaryFixtureFiles = ["STORE", "00000001.seg", FileNames.dictionary(1), "index"]

    /// 500 stanza-like values of about 700 bytes (a dictionary is trained after 256 KiB of them),
    /// from a fixed seed: the fixture's contents.
    static func dictionaryFixtureValues() -> [(key: String, value: [UInt8])] {
        var rng = SplitMix64(seed: 1_700_000_000)
        return (0 ..< 500).map { n in
            let words = ["library", "runtime", "development", "files", "documentation", "utilities", "python", "module"]
            var text = "Package: fixture-\(n)\nVersion: 1.\(n % 7)-\(n % 3)\nArchitecture: amd64\nPriority: optional\n"
            text += "Maintainer: Fixture Team <fixture@lists.example.org>\nSection: \(words[n % 8])\nDescription:"
            while text.utf8.count < 600 + n % 200 { text += " " + words[Int(rng.next() % 8)] }
            return ("pkg/\(n)", Array((text + "\n").utf8))
        }
    }

    static func generateDictionaryFixture(into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileSurgery.write(storeFile, to: directory + "/" + FileNames.manifest)
        var configuration = TestStores.configuration(compression: .lz4, segmentSize: 1 << 20, bootID: bootID)
        configuration.automaticCompaction = nil
        let store = try Store(path: directory, configuration: configuration)
        for (key, value) in dictionaryFixtureValues() { try store.set(value, forKey: key) }
        try store.close()
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["KVSTORE_REGENERATE_FIXTURES"] != nil))
    func regenerateDictionaryFixtureStore() throws {
        let target = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/" + Self.fixtureDictionaries).path
        try withScratchDirectory { directory in
            try Self.generateDictionaryFixture(into: directory + "/store")
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for name in Self.dictionaryFixtureFiles {
                try FileSurgery.write(FileSurgery.read(directory + "/store/" + name), to: target + "/" + name)
            }
        }
    }

    @Test func dictionaryFixtureOpensAndReadsBackEveryValue() throws {
        let fixture = try Self.fixtureDirectory(Self.fixtureDictionaries)
        let manifest = try Manifest.decode(try FileSurgery.read(fixture + "/STORE"), path: "STORE")
        #expect(manifest.incompatibleFeatures == Features.dictionaries && manifest.formatMinor == 2)
        // The dictionary file's header (FORMAT.md §3.2), field by field.
        let d = Fields(bytes: try FileSurgery.read(fixture + "/" + FileNames.dictionary(1)))
        #expect(Array(d.prefix(8)) == Array("KVDICT1\0".utf8))
        #expect(d.u16(8) == 1 && d.u16(10) == 2 && d.u32(12) == 1 && d.u64(16) == Self.storeID)
        #expect(d.u32(24) == d.count - 44 && d.u32(24) <= 65_536 && d.u32(28) == 1 && d.u32(36) == 0)
        #expect(d.u32(d.count - 4) == Int(CRC32C.checksum(Array(d.bytes.dropLast(4)))))
        // Records after the training carry flag bits 0 and 1 and dictionary id 1 in bytes 6-7.
        let records = try FileSurgery.records(inSegment: fixture + "/00000001.seg")
        let against = records.filter { $0.header.flags == 3 }
        #expect(!against.isEmpty && against.allSatisfy { $0.header.dictionaryID == 1 })
        #expect(records.first?.header.flags == 1, "the first values, before the dictionary, are plain LZ4")
        try withScratchDirectory { directory in
            for name in Self.dictionaryFixtureFiles {
                try FileSurgery.write(FileSurgery.read(fixture + "/" + name), to: directory + "/" + name)
            }
            let store = try Store(path: directory, configuration: TestStores.configuration(compression: .lz4))
            for (key, value) in Self.dictionaryFixtureValues() { #expect(try store.value(forKey: key) == value, "\(key)") }
            #expect(try store.verify().problems.isEmpty)
            try store.close()
        }
    }

    /// A 1.1 build knows no incompatible feature: it refuses the store, naming bit 0, before it
    /// changes anything (the refusal itself is `unknownIncompatibleFeatureIsRefusedAndNothingChanges`).
    @Test func aBuildThatDoesNotKnowDictionariesRefusesTheFixture() throws {
        let fixture = try Self.fixtureDirectory(Self.fixtureDictionaries)
        let manifest = try Manifest.decode(try FileSurgery.read(fixture + "/STORE"), path: "STORE")
        let error = #expect(throws: KVError.self) {
            try manifest.checkFeatures(readOnly: true, path: fixture, knownIncompatible: 0)
        }
        #expect(error?.code == .incompatibleFormat)
        #expect(error?.message.contains("incompatibleFeatures bit 0 (0x00000001)") == true, "\(String(describing: error))")
        #expect(throws: Never.self) { try manifest.checkFeatures(readOnly: false, path: fixture) }
    }
}
