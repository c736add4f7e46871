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

    @Test func prefix() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in
            try s.set("1", forKey: "a/1")
            try s.set("2", forKey: "b/2")
        }
        #expect(try KVTool.run("export", dir.sub("s"), "--prefix", "a/").lines == [Self.header("base64"), #"{"key":"YS8x","value":"MQ=="}"#])
    }
}
