import Foundation
import KVStore
import Testing

@Suite struct SalvageTests {
    static func value(_ key: String, _ round: Int) -> [UInt8] { Array("\(key) round \(round) ".utf8) + [UInt8](repeating: 0x5A, count: 90) }

    /// 600 keys written once, 100 written twice, 50 written then deleted, one batch: several segments.
    private func makeStore(_ path: String) throws -> [[UInt8]: [UInt8]] {
        var model: [[UInt8]: [UInt8]] = [:]
        try Fixtures.makeStore(path) { s in
            func set(_ key: String, _ round: Int) throws {
                try s.set(Self.value(key, round), forKey: key)
                model[Array(key.utf8)] = Self.value(key, round)
            }
            for i in 0..<100 { try set("twice-\(i)", 0) }
            for i in 0..<50 { try set("gone-\(i)", 0) }
            for i in 0..<600 { try set("single-\(i)", 0) }
            for i in 0..<100 { try set("twice-\(i)", 1) }
            for i in 0..<50 {
                try s.removeValue(forKey: "gone-\(i)")
                model[Array("gone-\(i)".utf8)] = nil
            }
            try s.write { batch in
                batch.set("b1", forKey: "batch-1")
                batch.set("b2", forKey: "batch-2")
            }
            model[Array("batch-1".utf8)] = Array("b1".utf8)
            model[Array("batch-2".utf8)] = Array("b2".utf8)
        }
        return model
    }

    /// Where the record of `key` with the highest sequence lies.
    private func newestRecord(of key: String, in store: String) throws -> (segment: String, offset: Int) {
        var best: (String, Int, Int)? = nil
        for segment in Fixtures.segments(store) {
            for event in try KVTool.run("dump", segment, "--format", "json").jsonLines where event["key"] as? String == key {
                let sequence = event["sequence"] as? Int ?? 0
                if best == nil || sequence > best!.2 { best = (segment, event["offset"] as? Int ?? 0, sequence) }
            }
        }
        let found = try #require(best)
        return (found.0, found.1)
    }

    @Test func copiesWhatChecksOutAndReportsTheRest() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        var expected = try makeStore(store)
        #expect(Fixtures.segments(store).count > 2)

        let single5 = try newestRecord(of: "single-5", in: store)
        try Fixtures.flipByte(single5.segment, at: single5.offset + 32 + 8 + 20)  // in the value
        expected[Array("single-5".utf8)] = nil
        let single7 = try newestRecord(of: "single-7", in: store)
        try Fixtures.overwrite(single7.segment, at: single7.offset + 4, with: [0xEE])  // the kind byte
        expected[Array("single-7".utf8)] = nil
        let twice3 = try newestRecord(of: "twice-3", in: store)
        try Fixtures.flipByte(twice3.segment, at: twice3.offset + 32 + 7 + 30)
        expected[Array("twice-3".utf8)] = Self.value("twice-3", 0)  // the older value survives

        let before = DirectorySnapshot(store)
        let run = try KVTool.run("salvage", store, "--output", dir.sub("out"))
        #expect(run.status == 0)
        #expect(run.stderr == "")
        #expect(run.lines.first == "salvaged \(expected.count) keys into \(dir.sub("out"))")
        #expect(run.out.contains("50 deleted keys stay deleted"))
        #expect(run.out.contains("lost: 3 damaged regions ("))
        #expect(run.out.contains("its header names key single-5"))
        #expect(run.out.contains("2 keys had a newer record among the damage"))
        #expect(DirectorySnapshot(store) == before)
        #expect(try Fixtures.contents(dir.sub("out")) == expected)
        #expect(try KVTool.run("verify", dir.sub("out")).out == "OK\n")
    }

    /// Values compressed against a trained dictionary are salvaged through the store's dictionary
    /// files: the output holds every value, bit-exact.
    @Test func valuesCompressedAgainstADictionaryAreSalvaged() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        var configuration = Store.Configuration()
        configuration.compression = .lz4
        var expected: [[UInt8]: [UInt8]] = [:]
        let s = try Store(path: store, configuration: configuration)
        let words = ["Package:", "Depends:", "library", "runtime", "Maintainer: Team <team@lists.example.org>", "Section: utils"]
        for i in 0..<2_000 {
            let value = Array((0 ..< 20 + i % 40).map { words[($0 * 7 + i) % words.count] }.joined(separator: " ").utf8)
            try s.set(value, forKey: "k\(i)")
            expected[Array("k\(i)".utf8)] = value
        }
        try s.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: store).contains { $0.hasSuffix(".dict") })
        let run = try KVTool.run("salvage", store, "--output", dir.sub("out"))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.out.contains("lost: nothing"), "\(run.out)")
        #expect(try Fixtures.contents(dir.sub("out")) == expected)
    }

    @Test func randomFlipsNeverProduceAValueThatWasNotWritten() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        _ = try makeStore(store)
        var written: [[UInt8]: Set<[UInt8]>] = [:]
        for i in 0..<100 { written[Array("twice-\(i)".utf8)] = [Self.value("twice-\(i)", 0), Self.value("twice-\(i)", 1)] }
        for i in 0..<50 { written[Array("gone-\(i)".utf8)] = [Self.value("gone-\(i)", 0)] }
        for i in 0..<600 { written[Array("single-\(i)".utf8)] = [Self.value("single-\(i)", 0)] }
        written[Array("batch-1".utf8)] = [Array("b1".utf8)]
        written[Array("batch-2".utf8)] = [Array("b2".utf8)]
        var generator = SystemRandomNumberGenerator()
        for segment in Fixtures.segments(store) {
            let size = (try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int) ?? 0
            for _ in 0..<8 { try Fixtures.flipByte(segment, at: Int.random(in: 32..<size, using: &generator)) }
        }
        let run = try KVTool.run("salvage", store, "--output", dir.sub("out"), "--format", "json")
        #expect(run.status == 0)
        #expect((run.json["lostRegions"] as? Int ?? 0) > 0)
        let salvaged = try Fixtures.contents(dir.sub("out"))
        #expect(salvaged.count == run.json["keys"] as? Int)
        for (key, value) in salvaged {
            #expect(written[key]?.contains(value) == true, "a salvaged value was never written for its key")
        }
    }

    @Test func refusesAnExistingOutputAndAMissingStore() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        _ = try makeStore(store)
        try FileManager.default.createDirectory(atPath: dir.sub("out"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir.sub("out/keep")))
        let before = DirectorySnapshot(store)
        let exists = try KVTool.run("salvage", store, "--output", dir.sub("out"))
        #expect(exists.status == 73)
        #expect(exists.stderr == "kvtool: \(dir.sub("out")): already exists and is not empty\n")
        #expect(DirectorySnapshot(dir.sub("out")).files.keys.sorted() == ["keep"])
        let missing = try KVTool.run("salvage", dir.sub("nope"), "--output", dir.sub("out2"))
        #expect(missing.status == 66)
        #expect(!FileManager.default.fileExists(atPath: dir.sub("out2")))
        let noOutput = try KVTool.run("salvage", store)
        #expect(noOutput.status == 64)
        #expect(DirectorySnapshot(store) == before)
    }

    @Test func refusesAnOutputInsideTheStore() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        _ = try makeStore(store)
        try FileManager.default.createSymbolicLink(atPath: dir.sub("link"), withDestinationPath: store)
        try FileManager.default.createDirectory(atPath: dir.sub("other"), withIntermediateDirectories: true)
        let before = DirectorySnapshot(store)
        for output in [store + "/sub", store + "/./sub", store + "/.", dir.sub("link/sub"), dir.sub("link"),
                       dir.sub("other/../s/sub"), dir.path + "/./s/new/deeper"] {
            let run = try KVTool.run("salvage", store, "--output", output)
            #expect(run.status == 64, "\(output): \(run.stderr)")
            #expect(run.stderr.hasPrefix("kvtool: --output must "), "\(output): \(run.stderr)")
            #expect(run.stderr.filter { $0 == "\n" }.count == 1, "\(output)")
            #expect(DirectorySnapshot(store) == before, "\(output)")
        }
        #expect(DirectorySnapshot(dir.sub("other")).files.isEmpty)
        // A sibling whose name merely starts like the store's is fine.
        #expect(try KVTool.run("salvage", store, "--output", dir.sub("s2")).status == 0)
    }

    @Test func waitsForNoWriter() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        _ = try makeStore(store)
        let holder = try LockHolder(store: store)
        let run = try KVTool.run("salvage", store, "--output", dir.sub("out"))
        holder.release()
        #expect(run.status == 75)
        #expect(!FileManager.default.fileExists(atPath: dir.sub("out")))
    }

    /// The lock is the store's own, on its directory: a writer that lost its LOCK file (a "stale
    /// lock" clean-up) still keeps salvage out.
    @Test func waitsForAWriterWhoseLockFileWasDeleted() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let open = try KVStoreHandle(path: store)
        defer { open.close() }
        try open.fill()
        try FileManager.default.removeItem(atPath: store + "/LOCK")
        let run = try KVTool.run("salvage", store, "--output", dir.sub("out"))
        #expect(run.status == 75)
        #expect(!FileManager.default.fileExists(atPath: dir.sub("out")))
        #expect(!FileManager.default.fileExists(atPath: store + "/LOCK"))
    }
}
