import Foundation
import KVStore
import Testing

@Suite struct StatTests {
    @Test func reportsFormatKeysBytesAndIndex() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let before = DirectorySnapshot(store)
        let run = try KVTool.run("stat", store, "--scan")
        #expect(run.status == 0)
        #expect(run.stderr == "")
        #expect(run.out.contains("Format version: 1.2"))
        #expect(run.out.contains("Features: compactHints"))
        #expect(run.out.contains("Keys: 600 live"))
        #expect(run.out.contains("Fragmentation: "))
        #expect(run.out.contains("Compression ratio: 1.00"))
        #expect(run.out.contains("Capacity: "))
        #expect(run.out.contains("Bytes per key: "))
        #expect(!run.out.contains("Largest values"))
        #expect(DirectorySnapshot(store) == before)
    }

    /// A store that trained a compression dictionary: `stat` lists it (and, with `--scan`, the live
    /// values using it), `dump` names each record's dictionary.
    @Test func showsTheDictionariesAndTheRecordsUsingThem() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        var configuration = Store.Configuration()
        configuration.compression = .lz4
        let s = try Store(path: store, configuration: configuration)
        let words = ["Package:", "Depends:", "library", "runtime", "Maintainer: Team <team@lists.example.org>", "Section: utils"]
        for i in 0..<2_000 {
            try s.set(Array((0 ..< 20 + i % 40).map { words[($0 * 7 + i) % words.count] }.joined(separator: " ").utf8), forKey: "k\(i)")
        }
        try s.close()
        let text = try KVTool.run("stat", store).out
        #expect(text.contains("Features: dictionaries"), "\(text)")
        #expect(text.contains("Dictionaries: 1") && text.contains("  #1: "), "\(text)")
        let json = try KVTool.run("stat", store, "--scan", "--format", "json").json
        let dictionaries = json["dictionaries"] as? [[String: Any]] ?? []
        #expect(dictionaries.count == 1 && dictionaries.first?["id"] as? Int == 1)
        let using = dictionaries.first?["liveValues"] as? Int ?? 0
        #expect(using > 0 && using < 2_000)
        let segment = store + "/00000001.seg"
        let records = try KVTool.run("dump", segment, "--format", "json").jsonLines
        #expect(records.filter { $0["dictionary"] as? Int == 1 }.count == using)
    }

    @Test func jsonAddsUpAndShowsDeadBytes() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let run = try KVTool.run("stat", store, "--scan", "--format", "json")
        #expect(run.status == 0)
        let json = run.json
        #expect(json["formatVersion"] as? String == "1.2")
        #expect(json["scanned"] as? Bool == true)
        #expect(json["liveKeys"] as? Int == 600)
        let live = json["liveBytes"] as? Int ?? 0, dead = json["deadBytes"] as? Int ?? 0, data = json["recordBytes"] as? Int ?? 0
        #expect(live + dead == data)
        // Every key written twice: about half of the record bytes are dead.
        let fragmentation = json["fragmentation"] as? Double ?? 0
        #expect(fragmentation > 0.4 && fragmentation < 0.6)
        #expect((json["segments"] as? Int ?? 0) > 1)
        #expect(json["activeSegments"] as? Int == 1)
        #expect((json["indexCapacity"] as? Int ?? 0) >= 600)
    }

    @Test func compressionRatioAndLargestValues() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeStore(store, compression: .lz4) { s in
            try s.set([UInt8](repeating: 7, count: 5000), forKey: "big")
            try s.set([UInt8](repeating: 1, count: 3000), forKey: "middle")
            try s.set("tiny", forKey: "small")
        }
        let run = try KVTool.run("stat", store, "--top", "2", "--format", "json")
        #expect(run.status == 0)
        #expect((run.json["compressionRatio"] as? Double ?? 0) > 10)
        let largest = run.json["largestValues"] as? [[String: Any]] ?? []
        #expect(largest.map { $0["key"] as? String } == ["big", "middle"])
        #expect(largest.first?["bytes"] as? Int == 5000)
        #expect((largest.first?["storedBytes"] as? Int ?? 5000) < 5000)

        let text = try KVTool.run("stat", store, "--top", "2")
        #expect(text.out.contains("  1. big: 4.88 KiB ("))
        #expect(text.out.contains("2. middle: 2.93 KiB"))
    }

    @Test func countsPastDamageAndSaysWhereItIsAndWhatToRun() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let first = try Fixtures.makeDamagedStore(store, count: 1500)
        // Every key was written once, so every record that checks out is its key's live one.
        let intact = try Fixtures.intactRecords(store).reduce(0, +)
        #expect(intact > 1400 && intact < 1499)
        let before = DirectorySnapshot(store)
        let run = try KVTool.run("stat", store, "--scan")
        #expect(run.status == 0)
        #expect(run.out.contains("Keys: \(grouped(intact)) live"), "\(run.out)")
        #expect(run.stderr.contains("kvtool: warning: \(first) @32: checksum mismatch (136 bytes skipped); the records after it were counted\n"), "\(run.stderr)")
        #expect(run.stderr.contains("/00000002.seg @8240: zeros where records should be (4,176 bytes skipped); the records after it were counted\n"), "\(run.stderr)")
        #expect(run.stderr.contains("warning: 2 damaged regions: `kvtool verify \(store)` lists every problem; `kvtool salvage \(store) --output DIR` copies"), "\(run.stderr)")
        let json = try KVTool.run("stat", store, "--scan", "--format", "json").json
        #expect(json["liveKeys"] as? Int == intact)
        let damage = json["damage"] as? [[String: Any]] ?? []
        #expect(damage.count == 2)
        #expect(damage.first?["file"] as? String == first)
        #expect(damage.first?["offset"] as? Int == 32)
        #expect(damage.first?["length"] as? Int == 136)
        #expect(DirectorySnapshot(store) == before)
    }

    /// Without --scan no record is read (a 100 M-key store answers at once): the damage the scan
    /// finds goes unseen, the keys are the index's count, and the output says how to get the rest.
    @Test func answersFromTheIndexAndFileSizesWithoutReadingARecord() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        _ = try Fixtures.makeDamagedStore(store, count: 1500)
        let before = DirectorySnapshot(store)
        let run = try KVTool.run("stat", store)
        #expect(run.status == 0)
        #expect(run.stderr == "", "\(run.stderr)")
        #expect(run.out.contains("Keys: 1,500 live"), "\(run.out)")
        #expect(run.out.contains("kvtool stat --scan reads every record"))
        #expect(!run.out.contains("Fragmentation"))
        let json = try KVTool.run("stat", store, "--format", "json").json
        #expect(json["scanned"] as? Bool == false)
        #expect(json["liveKeys"] as? Int == 1500)
        #expect(json["fragmentation"] == nil && json["damage"] == nil)
        #expect((json["indexCapacity"] as? Int ?? 0) >= 1500)
        #expect(DirectorySnapshot(store) == before)
    }

    @Test func saysHowItReachesTheStoreWhenNoWriterHasItOpen() throws {
        let dir = try TemporaryDirectory()
        let closed = dir.sub("closed")
        try Fixtures.makeOverwrittenStore(closed, count: 100)
        let run = try KVTool.run("stat", closed)
        #expect(run.lines.prefix(2) == ["Store: \(closed)", "  Access: live (no writer)"])
        let json = try KVTool.run("stat", closed, "--format", "json").json
        #expect(json["access"] as? String == "live")
        #expect(json["writerPID"] is NSNull)

        // A copy taken while the store is open looks like a store whose writer died: its index is
        // not trusted, and a reader rebuilds its own.
        let crashed = dir.sub("crashed")
        let open = try KVStoreHandle(path: dir.sub("open"))
        try open.fill()
        try Fixtures.copyFiles(from: dir.sub("open"), to: crashed)
        open.close()
        let before = DirectorySnapshot(crashed)
        let snapshot = try KVTool.run("stat", crashed)
        #expect(snapshot.status == 0, "\(snapshot.stderr)")
        #expect(snapshot.lines.contains("  Access: snapshot (no live writer; index rebuilt privately)"))
        #expect(snapshot.lines.contains("Keys: 600 live"))
        #expect(snapshot.stderr == "")
        #expect(try KVTool.run("stat", crashed, "--format", "json").json["access"] as? String == "snapshot")
        #expect(DirectorySnapshot(crashed) == before)
    }

    private func grouped(_ n: Int) -> String { n.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US"))) }

    @Test func refusesWhatIsNotAStore() throws {
        let dir = try TemporaryDirectory()
        let run = try KVTool.run("stat", dir.sub("missing"))
        #expect(run.status == 66)
        #expect(run.stderr == "kvtool: \(dir.sub("missing")): no such store\n")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("missing")))
    }
}
