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
            #expect(exported.lines.count == pairs.count + 1)
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

    /// Text that is valid hex, base64 and UTF-8 at once, so that reading it in the wrong encoding
    /// would succeed and store other bytes.
    static let ambiguousPairs: [[UInt8]: [UInt8]] = [
        Array("beef".utf8): Array("dead".utf8), Array("cafe".utf8): Array("f00d".utf8),
        Array("0123abcd".utf8): [], Array("face".utf8): Array("feedbead".utf8),
    ]

    @Test func everyExportEncodingAndImportFlagRoundTripsOrIsRefused() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("source")) { s in for (k, v) in Self.ambiguousPairs { try s.set(v, forKey: k) } }
        let old: [[UInt8]: [UInt8]] = [Array("existing".utf8): Array("kept".utf8)]
        var expected = old
        expected.merge(Self.ambiguousPairs) { _, new in new }
        for exportFlag in [nil, "base64", "hex", "utf8"] {
            let file = dir.sub("export-\(exportFlag ?? "none").ndjson")
            let export = try KVTool.run(["export", dir.sub("source"), "-o", file] + (exportFlag.map { ["--encoding", $0] } ?? []))
            #expect(export.status == 0)
            let bytes = Array(FileManager.default.contents(atPath: file) ?? Data())
            for importFlag in [nil, "base64", "hex", "utf8"] {
                for fromStdin in [false, true] {
                    let what = "export \(exportFlag ?? "-"), import \(importFlag ?? "-")\(fromStdin ? " from stdin" : "")"
                    let target = dir.sub("t-\(exportFlag ?? "none")-\(importFlag ?? "none")-\(fromStdin)")
                    try Fixtures.makeStore(target) { s in for (k, v) in old { try s.set(v, forKey: k) } }
                    let before = DirectorySnapshot(target)
                    let run = try KVTool.run(["import", target, fromStdin ? "-" : file] + (importFlag.map { ["--encoding", $0] } ?? []),
                                             stdin: fromStdin ? bytes : nil)
                    if run.status == 0 {
                        #expect(try Fixtures.contents(target) == expected, "\(what)")
                    } else {
                        #expect(DirectorySnapshot(target) == before, "\(what)")
                    }
                    let agrees = importFlag == nil || importFlag == (exportFlag ?? "base64")
                    #expect(run.status == (agrees ? 0 : 64), "\(what): \(run.stderr)")
                    if !agrees {
                        #expect(run.stderr == "kvtool: \(fromStdin ? "stdin" : file): the export's header says its keys and values are "
                                + "\(exportFlag ?? "base64"); --encoding \(importFlag!) contradicts it (leave --encoding out)\n", "\(what)")
                    }
                }
            }
        }
    }

    @Test func aFileWithoutAHeaderIsReadAsBefore() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { _ in }
        // As kvtool wrote exports before they had a header line: base64 unless told otherwise.
        let base64 = #"{"key":"YmVlZg==","value":"AP8="}"# + "\n"
        #expect(try KVTool.run("import", dir.sub("s"), stdin: Array(base64.utf8)).status == 0)
        let hex = "\n" + #"{"key":"6b","value":"00ff"}"# + "\n"
        #expect(try KVTool.run("import", dir.sub("s"), "--encoding", "hex", stdin: Array(hex.utf8)).status == 0)
        #expect(try Fixtures.contents(dir.sub("s")) == [Array("beef".utf8): [0, 0xFF], Array("k".utf8): [0, 0xFF]])
    }

    @Test func aBadOrMisplacedHeaderChangesNothing() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in try s.set("v", forKey: "k") }
        let before = DirectorySnapshot(dir.sub("s"))
        let pair = #"{"key":"YQ==","value":"MQ=="}"#
        for (text, message) in [
            (#"{"kvtool-export":2,"encoding":"base64"}"# + "\n" + pair, "1: an export of format 2; this kvtool reads format 1"),
            (#"{"kvtool-export":"1","encoding":"base64"}"#, #"1: the "kvtool-export" header field is not a format number"#),
            (#"{"kvtool-export":1,"encoding":"auto"}"#, "1: the header names no encoding this kvtool knows (base64, hex or utf8)"),
            (#"{"kvtool-export":1}"#, "1: the header names no encoding this kvtool knows (base64, hex or utf8)"),
            (pair + "\n" + #"{"kvtool-export":1,"encoding":"hex"}"# + "\n" + #"{"key":"61","value":"31"}"#,
             "2: an export header belongs on the first line only (were two exports joined?)"),
        ] {
            for fromStdin in [false, true] {
                try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: dir.sub("in.ndjson")))
                let run = try KVTool.run(["import", dir.sub("s"), fromStdin ? "-" : dir.sub("in.ndjson"), "--batch-size", "1"],
                                         stdin: fromStdin ? Array((text + "\n").utf8) : nil)
                #expect(run.status == 65, "\(text)")
                #expect(run.stderr.hasPrefix("kvtool: \(fromStdin ? "stdin" : dir.sub("in.ndjson")):\(message)"), "\(text): \(run.stderr)")
                if !fromStdin || !text.hasPrefix(pair) { #expect(DirectorySnapshot(dir.sub("s")) == before, "\(text)") }
            }
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
