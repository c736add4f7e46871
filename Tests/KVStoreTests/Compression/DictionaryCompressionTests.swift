@testable import KVStore
import Foundation
import Testing

/// Values compressed against dictionaries the store trains from its own values (FORMAT.md §3.2).
@Suite("Compression: trained dictionaries")
struct DictionaryCompressionTests {
    /// Text like a package index stanza: fields every value shares, words of a vocabulary that
    /// `flavour` picks (a new flavour is data that drifted), and a random hash no dictionary helps.
    static func stanza(_ n: Int, flavour: Int, using rng: inout SplitMix64) -> [UInt8] {
        let vocabularies = [["library", "runtime", "development", "files", "documentation", "utilities", "python", "module"],
                            ["kernel", "firmware", "driver", "network", "wireless", "bluetooth", "audio", "video"],
                            ["game", "puzzle", "arcade", "strategy", "board", "cards", "chess", "sudoku"]]
        let words = vocabularies[flavour % vocabularies.count]
        var text = "Package: pkg-\(flavour)-\(n)\nVersion: \(n % 17).\(n % 5)-\(n % 3)\nArchitecture: amd64\n"
        text += "Maintainer: Team \(flavour) <team-\(flavour)@lists.example.org>\nPriority: optional\nSection: \(words[n % 8])\n"
        text += "Description: " + (0 ..< Int.random(in: 8...40, using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ")
        text += "\nSHA256: " + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined() + "\n"
        return Array(text.utf8)
    }

    static func configuration(segmentSize: Int = 1 << 20) -> Store.Configuration {
        var configuration = TestStores.configuration(compression: .lz4, segmentSize: segmentSize)
        configuration.automaticCompaction = nil
        return configuration
    }

    static func manifest(_ directory: String) throws -> Manifest {
        try Manifest.decode(try readWholeFile(directory + "/" + FileNames.manifest), path: "STORE")
    }

    static func dictionaryFiles(_ directory: String) throws -> [String] {
        try FileSurgery.names(in: directory).filter { $0.hasSuffix(FileNames.dictionarySuffix) }.sorted()
    }

    /// Records of the store's segments: (key, dictionary id) of every put.
    static func dictionaryIDs(_ directory: String) throws -> [String: UInt16] {
        var found: [String: UInt16] = [:]
        for name in try FileSurgery.segmentNames(in: directory) {
            let reader = try RawSegmentReader(path: directory + "/" + name)
            try reader.walk { event in
                if case .record(let r) = event, r.kind == RawRecord.putKind, let key = r.key {
                    found[String(decoding: key, as: UTF8.self)] = r.dictionaryID
                }
            }
        }
        return found
    }

    @Test func valuesRoundTripAcrossTrainingRetrainingAndCompaction() throws {
        try withScratchDirectory { directory in
            var rng = SplitMix64(seed: 11)
            var model: [String: [UInt8]] = [:]
            var store = try Store(path: directory, configuration: Self.configuration())
            // One flavour until well past the first training, then another: the data drifts.
            // (Retraining is tried after each 8 MiB of values: 32,000 of ~300 bytes.)
            for n in 0 ..< 40_000 {
                let flavour = n < 8_000 ? 0 : 1
                let key = "k\(Int.random(in: 0 ..< 9_000, using: &rng))"
                let value = n % 97 == 0 ? (0 ..< 300).map { _ in UInt8.random(in: 0...255, using: &rng) }
                                        : Self.stanza(n, flavour: flavour, using: &rng)
                try store.set(value, forKey: key)
                model[key] = value
            }
            let files = try Self.dictionaryFiles(directory)
            #expect(files.count >= 2, "the drift made a second dictionary: \(files)")
            #expect(try Self.manifest(directory).incompatibleFeatures & Features.dictionaries != 0)
            for (key, value) in model { #expect(try store.value(forKey: key) == value, "\(key)") }
            // Compaction copies every live value compressed against the current dictionary; the
            // older ones have nothing left to serve and go.
            var options = Store.CompactionOptions()
            options.minimumDeadRatio = 0
            options.minimumDeadBytes = 0
            let report = try store.compact(options)
            #expect(report.dictionariesRetired >= 1)
            #expect(try Self.dictionaryFiles(directory).count < files.count)
            try store.close()
            store = try Store(path: directory, configuration: Self.configuration())
            for (key, value) in model { #expect(try store.value(forKey: key) == value, "\(key)") }
            let ids = try Self.dictionaryIDs(directory)
            let used = Set(ids.values.filter { $0 != 0 })
            let present = Set(try Self.dictionaryFiles(directory).compactMap(FileNames.dictionaryID(of:)))
            #expect(used.isSubset(of: present), "every dictionary a record uses is still there: used \(used), present \(present)")
            #expect(try store.verify().problems.isEmpty)
            try store.close()
        }
    }

    @Test func aStoreMixesRawPlainLZ4AndTwoDictionaries() throws {
        try withScratchDirectory { directory in
            var rng = SplitMix64(seed: 5)
            var model: [String: [UInt8]] = [:]
            func write(_ range: Range<Int>, _ configuration: Store.Configuration, flavour: Int) throws {
                let store = try Store(path: directory, configuration: configuration)
                for n in range {
                    let value = Self.stanza(n, flavour: flavour, using: &rng)
                    try store.set(value, forKey: "k\(n)")
                    model["k\(n)"] = value
                }
                try store.close()
            }
            var none = Self.configuration()
            none.compression = .none
            var plain = Self.configuration()
            plain.trainsDictionaries = false
            try write(0 ..< 1_000, none, flavour: 0)
            try write(1_000 ..< 2_000, plain, flavour: 0)
            try write(2_000 ..< 8_000, Self.configuration(), flavour: 0)
            try write(8_000 ..< 20_000, Self.configuration(), flavour: 2)
            let ids = try Self.dictionaryIDs(directory)
            let kinds = Set(ids.values)
            #expect(kinds.contains(0) && kinds.count >= 3, "raw or plain, and two dictionaries: \(kinds)")
            let store = try Store(path: directory, configuration: Self.configuration())
            for (key, value) in model { #expect(try store.value(forKey: key) == value, "\(key)") }
            var cursorCount = 0
            var cursor = try store.entries()
            while let entry = try cursor.next() {
                #expect(model[String(decoding: entry.key, as: UTF8.self)] == entry.value)
                cursorCount += 1
            }
            #expect(cursorCount == model.count)
            try store.close()
        }
    }

    /// A store that trained a dictionary, and the keys whose values use dictionary 1.
    static func storeWithADictionary(_ directory: String) throws -> (model: [String: [UInt8]], users: [String]) {
        var rng = SplitMix64(seed: 9)
        var model: [String: [UInt8]] = [:]
        let store = try Store(path: directory, configuration: Self.configuration())
        for n in 0 ..< 3_000 {
            let value = Self.stanza(n, flavour: 0, using: &rng)
            try store.set(value, forKey: "k\(n)")
            model["k\(n)"] = value
        }
        try store.close()
        let users = try Self.dictionaryIDs(directory).filter { $0.value == 1 }.map(\.key)
        #expect(!users.isEmpty && users.count < model.count)
        return (model, users)
    }

    static func expectOnlyUsersFail(_ directory: String, _ model: [String: [UInt8]], users: [String], damage: String) throws {
        let store = try Store(path: directory, configuration: Self.configuration())
        let failing = Set(users)
        for (key, value) in model {
            if failing.contains(key) {
                let error = #expect(throws: KVError.self) { try store.value(forKey: key) }
                #expect(error?.code == .corruption)
                #expect(error?.path?.hasSuffix(FileNames.dictionary(1)) == true, "names the dictionary: \(String(describing: error))")
                #expect(error?.message.contains(damage) == true, "\(String(describing: error))")
            } else {
                #expect(try store.value(forKey: key) == value)
            }
        }
        let problems = try store.verify().problems
        #expect(problems.contains { $0.path.hasSuffix(FileNames.dictionary(1)) }, "\(problems)")
        try store.close()
    }

    @Test func aMissingDictionaryFailsExactlyTheValuesThatUseIt() throws {
        try withScratchDirectory { directory in
            let (model, users) = try Self.storeWithADictionary(directory)
            try FileSurgery.remove(directory + "/" + FileNames.dictionary(1))
            try Self.expectOnlyUsersFail(directory, model, users: users, damage: "missing")
        }
    }

    @Test func aDamagedDictionaryFailsExactlyTheValuesThatUseIt() throws {
        try withScratchDirectory { directory in
            let (model, users) = try Self.storeWithADictionary(directory)
            let path = directory + "/" + FileNames.dictionary(1)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[DictionaryLayout.headerSize + 100] ^= 0x40
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            try Self.expectOnlyUsersFail(directory, model, users: users, damage: "checksum")
        }
    }

    @Test func plainLZ4OnlyLeavesTheStoreOpenableByOlderBuilds() throws {
        try withScratchDirectory { directory in
            var configuration = Self.configuration()
            configuration.trainsDictionaries = false
            var rng = SplitMix64(seed: 1)
            let store = try Store(path: directory, configuration: configuration)
            for n in 0 ..< 3_000 { try store.set(Self.stanza(n, flavour: 0, using: &rng), forKey: "k\(n)") }
            try store.close()
            #expect(try Self.dictionaryFiles(directory).isEmpty)
            #expect(try Self.manifest(directory).incompatibleFeatures == 0)
        }
    }

    @Test func incompressibleValuesGetNoDictionary() throws {
        try withScratchDirectory { directory in
            var rng = SplitMix64(seed: 2)
            let store = try Store(path: directory, configuration: Self.configuration())
            for n in 0 ..< 4_000 { try store.set((0 ..< 200).map { _ in UInt8.random(in: 0...255, using: &rng) }, forKey: "k\(n)") }
            try store.close()
            #expect(try Self.dictionaryFiles(directory).isEmpty)
        }
    }

    /// The dictionary is synced (file and directory) before the first record that uses it, so a
    /// power loss anywhere after it was trained leaves every record that survived readable.
    @Test(arguments: PowerLossSimulator.SegmentMode.allCases)
    func aPowerLossAfterTrainingLeavesEverySurvivingValueReadable(_ mode: PowerLossSimulator.SegmentMode) throws {
        try withScratchDirectory { directory in
            let simulator = try PowerLossSimulator(directory: directory)
            defer { simulator.stop() }
            var rng = SplitMix64(seed: mode == .synced ? 21 : 22)
            var configuration = Self.configuration()
            configuration.bootID = TestStores.randomBootID(using: &rng)
            var store = try Store(path: directory, configuration: configuration)
            var written: [String: [UInt8]] = [:]
            var n = 0
            func put() throws {
                let value = Self.stanza(n, flavour: 0, using: &rng)
                try store.set(value, forKey: "k\(n)")
                written["k\(n)"] = value
                n += 1
            }
            for _ in 0 ..< 200 { try put() }
            try store.sync()
            let synced = written
            // Not synced: the values the dictionary is trained from, and some that use it.
            while try Self.dictionaryFiles(directory).isEmpty { try put() }
            for _ in 0 ..< 300 { try put() }
            store.simulateCrash()
            _ = try simulator.powerLoss(using: &rng, segmentMode: mode)
            configuration.bootID = TestStores.randomBootID(using: &rng)
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.problems.allSatisfy { $0.code != .corruption || $0.message.contains("power loss") },
                    "\(store.recoveryReport.problems)")
            for (key, value) in synced { #expect(try store.value(forKey: key) == value, "synced \(key)") }
            var survivors = 0
            for (key, value) in written {
                if let got = try store.value(forKey: key) {
                    #expect(got == value, "\(key)")
                    survivors += 1
                }
            }
            #expect(survivors >= synced.count)
            #expect(try store.verify().problems.isEmpty)
            try store.close()
        }
    }

    /// Once its dictionary is in memory, a get of a value compressed against it makes one system
    /// call: the `pread` of its record (mapping budget 0, so that no get reads in place).
    @Test func aGetOfADictionaryValueIsOneRead() throws {
        try withScratchDirectory { directory in
            let (model, users) = try Self.storeWithADictionary(directory)
            let counter = MappedReadTests.CallCounter()
            try withSystemHooks(directory: directory, injector: counter.injector()) {
                var configuration = Self.configuration()
                configuration.mappingBudget = 0
                let store = try Store(path: directory, configuration: configuration)
                #expect(try store.value(forKey: users[0]) == model[users[0]])  // loads the dictionary
                let calls = try counter.counting { () throws -> Void in
                    for key in users.prefix(500) { #expect(try store.value(forKey: key) == model[key]) }
                }
                #expect(calls == [.pread: min(500, users.count)], "\(calls)")
                try store.close()
            }
        }
    }

    /// After a power loss cut the log back to a segment before the newest dictionary's first, the
    /// writer does not use that dictionary: its records would lie outside the segments its
    /// retirement counts on.
    @Test func aDictionaryMadeAfterTheActiveSegmentIsNotUsed() throws {
        try withScratchDirectory { directory in
            let shelf = try DictionaryShelf(directory: directory, storeID: 7)
            var rng = SplitMix64(seed: 4)
            let bytes = (0 ..< 200).flatMap { Self.stanza($0, flavour: 0, using: &rng) }.prefix(60_000)
            _ = try shelf.add(DictionaryLayout.Contents(id: 5, storeID: 7, firstSegment: 10, trainedOn: 100, bytes: Array(bytes)))
            let cut = ValueCompressor(trains: true, existing: [5], shelf: shelf, activeSegment: 9)
            #expect(cut.current == nil)
            let fine = ValueCompressor(trains: true, existing: [5], shelf: shelf, activeSegment: 10)
            #expect(fine.current?.id == 5)
            let plain = ValueCompressor(trains: false, existing: [5], shelf: shelf, activeSegment: 10)
            #expect(plain.current == nil)
        }
    }

    @Test func theTrainerPrefersWhatRecursAcrossSamples() {
        var rng = SplitMix64(seed: 3)
        let samples = (0 ..< 2_000).map { Self.stanza($0, flavour: 1, using: &rng) }
        let dictionary = DictionaryTrainer.train(samples)
        #expect(dictionary.count <= DictionaryLayout.maximumLength && dictionary.count > 32 << 10)
        let text = String(decoding: dictionary, as: UTF8.self)
        #expect(text.contains("Maintainer: Team 1 <team-1@lists.example.org>"))
        // Every value compresses better against it than on its own.
        let d = CompressionDictionary(id: 1, bytes: dictionary, firstSegment: 1, trainedOn: samples.count)
        var out = [UInt8](repeating: 0, count: 8192)
        var plain = 0, against = 0
        for s in samples.prefix(200) {
            s.withBytes { plain += LZ4.compress($0, into: &out, capacity: out.count) ?? s.count }
            s.withBytes { against += d.compress($0, into: &out, capacity: out.count) ?? s.count }
        }
        #expect(Double(against) < 0.8 * Double(plain), "against \(against), plain \(plain)")
    }
}
