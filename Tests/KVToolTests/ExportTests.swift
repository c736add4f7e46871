import Foundation
import Testing

@Suite struct ExportTests {
    static func header(_ encoding: String) -> String { #"{"kvtool-export":1,"encoding":""# + encoding + #""}"# }

    @Test func writesOneBase64LinePerPair() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in
            try s.set([0, 255, 10], forKey: [1, 2])
            try s.set("text", forKey: "k")
            try s.set([], forKey: "empty")
        }
        let before = DirectorySnapshot(dir.sub("s"))
        let run = try KVTool.run("export", dir.sub("s"))
        #expect(run.status == 0)
        #expect(run.stderr == "")
        #expect(run.lines.first == Self.header("base64"))
        #expect(run.lines.dropFirst().sorted() == [
            #"{"key":"AQI=","value":"AP8K"}"#,
            #"{"key":"ZW1wdHk=","value":""}"#,
            #"{"key":"aw==","value":"dGV4dA=="}"#,
        ])
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func hexAndTextEncodings() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in try s.set("line\n\"quoted\"\ttab é", forKey: "k") }
        #expect(try KVTool.run("export", dir.sub("s"), "--encoding", "hex").out == Self.header("hex") + "\n" + #"{"key":"6b","value":"6c696e650a2271756f746564220974616220c3a9"}"# + "\n")
        #expect(try KVTool.run("export", dir.sub("s"), "--encoding", "utf8").out == Self.header("utf8") + "\n" + #"{"key":"k","value":"line\n\"quoted\"\ttab é"}"# + "\n")
    }

    @Test func textEncodingRefusesBinaryData() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in try s.set([0xFF, 0xFE], forKey: "k") }
        let run = try KVTool.run("export", dir.sub("s"), "--encoding", "utf8")
        #expect(run.status == 65)
        #expect(run.stderr == "kvtool: \(dir.sub("s")): a value is not valid UTF-8; export with --encoding base64 or hex\n")
    }

    @Test func writesAFileOnlyWhenAllowed() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in try s.set("v", forKey: "k") }
        let run = try KVTool.run("export", dir.sub("s"), "-o", dir.sub("out.ndjson"))
        #expect(run.status == 0)
        #expect(run.stdout == [])
        #expect(String(decoding: FileManager.default.contents(atPath: dir.sub("out.ndjson"))!, as: UTF8.self) == Self.header("base64") + "\n" + #"{"key":"aw==","value":"dg=="}"# + "\n")
        let again = try KVTool.run("export", dir.sub("s"), "-o", dir.sub("out.ndjson"))
        #expect(again.status == 73)
        #expect(again.stderr.hasPrefix("kvtool: \(dir.sub("out.ndjson")): cannot create: "))
        #expect(try KVTool.run("export", dir.sub("s"), "-o", dir.sub("out.ndjson"), "--force").status == 0)
    }

    @Test func stopsAtDamageAndLeavesNoFileBehind() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let first = try Fixtures.makeDamagedStore(store, count: 1500)
        let out = dir.sub("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let run = try KVTool.run("export", store, "-o", out + "/dump.ndjson")
        #expect(run.status == 65)
        #expect(run.stderr.hasPrefix("kvtool: \(first) @32: checksum mismatch; stopped there after 0 pairs"), "\(run.stderr)")
        #expect(run.stderr.contains("`kvtool salvage \(store) --output DIR`"), "\(run.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
        // Replacing a file: the old one stays whole when the export fails.
        try Data("old\n".utf8).write(to: URL(fileURLWithPath: out + "/dump.ndjson"))
        #expect(try KVTool.run("export", store, "-o", out + "/dump.ndjson", "--force").status == 65)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["dump.ndjson"])
        #expect(FileManager.default.contents(atPath: out + "/dump.ndjson") == Data("old\n".utf8))
        // A value that is not text fails later, after lines were written: still no file.
        try Fixtures.makeStore(dir.sub("bin")) { s in
            for i in 0..<500 { try s.set("text", forKey: "k\(i)") }
            try s.set([0xFF], forKey: "binary")
        }
        #expect(try KVTool.run("export", dir.sub("bin"), "--encoding", "utf8", "-o", out + "/text.ndjson").status == 65)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["dump.ndjson"])
        // And a successful export into a directory of its own leaves only its file.
        #expect(try KVTool.run("export", dir.sub("bin"), "-o", out + "/bin.ndjson").status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["bin.ndjson", "dump.ndjson"])
    }

    @Test func prefix() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in
            try s.set("1", forKey: "a/1")
            try s.set("2", forKey: "b/2")
        }
        #expect(try KVTool.run("export", dir.sub("s"), "--prefix", "a/").lines == [Self.header("base64"), #"{"key":"YS8x","value":"MQ=="}"#])
    }
}
