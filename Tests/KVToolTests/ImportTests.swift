import Foundation
import Testing

@Suite struct ImportTests {
    /// Random keys and values with every byte value, empty values, a long value, and a key and a
    /// value holding all 256 byte values.
    static func randomPairs(count: Int) -> [[UInt8]: [UInt8]] {
        var generator = SystemRandomNumberGenerator()
        var pairs: [[UInt8]: [UInt8]] = [:]
        pairs[(0...255).map { UInt8($0) }] = (0...255).reversed().map { UInt8($0) }
        pairs[[0]] = []
        pairs[[0xFF]] = [0x0A]
        pairs[Array("long".utf8)] = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        while pairs.count < count {
            let key = (0..<Int.random(in: 1...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let length = Int.random(in: 0...3, using: &generator) == 0 ? 0 : Int.random(in: 1...300, using: &generator)
            pairs[key] = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        return pairs
    }

    @Test func exportThenImportRoundTripsRandomBinaryData() throws {
        let dir = try TemporaryDirectory()
        let pairs = Self.randomPairs(count: 2000)
        try Fixtures.makeStore(dir.sub("a")) { s in for (k, v) in pairs { try s.set(v, forKey: k) } }
        for encoding in ["base64", "hex"] {
            let exported = try KVTool.run("export", dir.sub("a"), "--encoding", encoding)
            #expect(exported.status == 0)
            #expect(exported.lines.count == pairs.count)
            let target = dir.sub("b-" + encoding)
            let imported = try KVTool.run("import", target, "--create", "--encoding", encoding, "--batch-size", "300", stdin: exported.stdout)
            #expect(imported.status == 0)
            #expect(imported.stderr == "")
            #expect(imported.out == "imported 2,000 pairs in 7 batches\n")
            #expect(try Fixtures.contents(target) == pairs)
            // And back out: the same lines.
            #expect(try KVTool.run("export", target, "--encoding", encoding).lines.sorted() == exported.lines.sorted())
        }
    }

    @Test func importsAFileIntoAnExistingStore() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in try s.set("old", forKey: "k") }
        let lines = #"{"key":"k","value":"new"}"# + "\n\n" + #"  { "value" : "\u00e9\n" , "key":"other", "note": 1 }"# + "\r\n"
        try Data(lines.utf8).write(to: URL(fileURLWithPath: dir.sub("in.ndjson")))
        let run = try KVTool.run("import", dir.sub("s"), dir.sub("in.ndjson"), "--encoding", "utf8", "--format", "json")
        #expect(run.status == 0)
        #expect(run.json["records"] as? Int == 2)
        #expect(run.json["batches"] as? Int == 1)
        let contents = try Fixtures.contents(dir.sub("s"))
        #expect(contents[Array("k".utf8)] == Array("new".utf8))
        #expect(contents[Array("other".utf8)] == Array("é\n".utf8))
    }

    @Test func aBadLineInAFileChangesNothing() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in try s.set("v", forKey: "k") }
        let before = DirectorySnapshot(dir.sub("s"))
        var text = ""
        for i in 0..<2500 { text += #"{"key":"\#(Data("key\(i)".utf8).base64EncodedString())","value":"AA=="}"# + "\n" }
        text += #"{"key":"not base64!","value":"AA=="}"# + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir.sub("bad.ndjson")))
        let run = try KVTool.run("import", dir.sub("s"), dir.sub("bad.ndjson"))
        #expect(run.status == 65)
        #expect(run.stderr == "kvtool: \(dir.sub("bad.ndjson")):2501: the key is not valid base64\n")
        #expect(DirectorySnapshot(dir.sub("s")) == before)

        for (line, message) in [
            ("[1,2]", "column 1: expected '{'"),
            (#"{"key":"aw=="}"#, #"no "value" string"#),
            (#"{"key":"","value":""}"#, "the key must be 1 to 65536 bytes and the value at most 1073741824"),
            (#"{"key":"aw==","value":"dg=="} x"#, "column 31: unexpected characters after the object"),
            (#"{"key":{"a":1},"value":""}"#, "column 8: nested objects and arrays are not accepted"),
        ] {
            try Data((line + "\n").utf8).write(to: URL(fileURLWithPath: dir.sub("bad.ndjson")))
            let bad = try KVTool.run("import", dir.sub("s"), dir.sub("bad.ndjson"))
            #expect(bad.status == 65)
            #expect(bad.stderr == "kvtool: \(dir.sub("bad.ndjson")):1: \(message)\n")
        }
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func fromStdinBatchesBeforeABadLineStay() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { _ in }
        let text = #"{"key":"YQ==","value":"MQ=="}"# + "\n" + #"{"key":"Yg==","value":"Mg=="}"# + "\n" + "oops\n"
        let run = try KVTool.run("import", dir.sub("s"), "--batch-size", "1", stdin: Array(text.utf8))
        #expect(run.status == 65)
        #expect(run.stderr == "kvtool: stdin:3: column 1: expected '{'; 2 pairs in 2 batches were imported before it\n")
        #expect(try Fixtures.contents(dir.sub("s")).count == 2)
    }

    @Test func refusesDuplicatedFieldsAndSignedUnicodeEscapes() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in try s.set("v", forKey: "k") }
        let before = DirectorySnapshot(dir.sub("s"))
        for (encoding, line, message) in [
            ("base64", #"{"key":"aw==","value":"dg==","key":"eA=="}"#, #"column 30: the field "key" appears twice"#),
            ("base64", #"{"key":"aw==","value":"dg==","value":"eA=="}"#, #"column 30: the field "value" appears twice"#),
            ("base64", #"{"k\u0065y":"aw==","key":"eA==","value":"dg=="}"#, #"column 20: the field "key" appears twice"#),
            ("utf8", #"{"key":"\u+041","value":"v"}"#, "column 11: bad \\u escape"),
            ("utf8", #"{"key":"\u-041","value":"v"}"#, "column 11: bad \\u escape"),
            ("utf8", #"{"key":"k","value":"v","n":+1}"#, "column 28: not a JSON value"),
        ] {
            try Data((line + "\n").utf8).write(to: URL(fileURLWithPath: dir.sub("bad.ndjson")))
            let run = try KVTool.run("import", dir.sub("s"), dir.sub("bad.ndjson"), "--encoding", encoding)
            #expect(run.status == 65, "\(line)")
            #expect(run.stderr == "kvtool: \(dir.sub("bad.ndjson")):1: \(message)\n", "\(line)")
        }
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func refusedInputs() throws {
        let dir = try TemporaryDirectory()
        let missingStore = try KVTool.run("import", dir.sub("nope"), stdin: [])
        #expect(missingStore.status == 66)
        #expect(!FileManager.default.fileExists(atPath: dir.sub("nope")))
        try Fixtures.makeStore(dir.sub("s")) { _ in }
        let before = DirectorySnapshot(dir.sub("s"))
        let missingFile = try KVTool.run("import", dir.sub("s"), dir.sub("none.ndjson"))
        #expect(missingFile.status == 66)
        #expect(missingFile.stderr.hasPrefix("kvtool: \(dir.sub("none.ndjson")): cannot open: "))
        #expect(try KVTool.run("import", dir.sub("s"), "--batch-size", "0").status == 64)
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }
}
