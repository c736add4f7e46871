import Foundation
import Testing

@Suite struct ScanTests {
    private func makeStore(_ path: String) throws {
        try Fixtures.makeStore(path) { s in
            for i in 0..<20 { try s.set("v\(i)", forKey: "user/\(i)") }
            for i in 0..<5 { try s.set("g\(i)", forKey: "group/\(i)") }
            try s.set([0xFF, 0x00], forKey: "bin")
            try s.removeValue(forKey: "user/0")
        }
    }

    @Test func listsEveryLivePair() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let before = DirectorySnapshot(dir.sub("s"))
        let run = try KVTool.run("scan", dir.sub("s"))
        #expect(run.status == 0)
        let expected = (1..<20).map { "user/\($0)\tv\($0)" } + (0..<5).map { "group/\($0)\tg\($0)" } + ["bin\t0xff00"]
        #expect(run.lines.sorted() == expected.sorted())
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func prefixLimitKeysOnlyAndCount() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let groups = try KVTool.run("scan", dir.sub("s"), "--prefix", "group/", "--keys-only")
        #expect(groups.lines.sorted() == (0..<5).map { "group/\($0)" })
        let limited = try KVTool.run("scan", dir.sub("s"), "--prefix", "user/", "--limit", "3")
        #expect(limited.lines.count == 3)
        #expect(limited.lines.allSatisfy { $0.hasPrefix("user/") })
        #expect(try KVTool.run("scan", dir.sub("s"), "--count").out == "25\n")
        #expect(try KVTool.run("scan", dir.sub("s"), "--count", "--prefix", "75736572", "--key-encoding", "hex").out == "19\n")
        #expect(try KVTool.run("scan", dir.sub("s"), "--count", "--format", "json").json["count"] as? Int == 25)
    }

    @Test func jsonLinesWithAnEncoding() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let rows = try KVTool.run("scan", dir.sub("s"), "--prefix", "bin", "--format", "json", "--encoding", "base64").jsonLines
        #expect(rows.count == 1)
        #expect(rows.first?["key"] as? String == "Ymlu")
        #expect(rows.first?["value"] as? String == "/wA=")
    }

    @Test func stopsAtDamageNamingItAndSalvage() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let first = try Fixtures.makeDamagedStore(store, count: 1500)
        for arguments in [["scan", store], ["scan", store, "--keys-only"], ["scan", store, "--count"]] {
            let run = try KVTool.run(arguments)
            #expect(run.status == 65, "\(arguments)")
            #expect(run.stderr.hasPrefix("kvtool: \(first) @32: checksum mismatch; stopped there after "), "\(arguments): \(run.stderr)")
            #expect(run.stderr.hasSuffix("`kvtool salvage \(store) --output DIR` copies every record that checks out into a new store\n"), "\(arguments): \(run.stderr)")
        }
    }

    @Test func badLimitIsAUsageError() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        #expect(try KVTool.run("scan", dir.sub("s"), "--limit", "-1").status == 64)
    }
}
