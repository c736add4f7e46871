import Foundation
import Testing

@Suite struct GetTests {
    static let binary: [UInt8] = [0, 1, 2, 0xFF, 0xFE, 10, 13, 0x80]

    private func makeStore(_ path: String) throws {
        try Fixtures.makeStore(path) { s in
            try s.set("hello world", forKey: "greeting")
            try s.set(Self.binary, forKey: [0xDE, 0xAD])
            try s.set([], forKey: "empty")
        }
    }

    @Test func writesTheRawValueWhenStdoutIsNotATerminal() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let before = DirectorySnapshot(dir.sub("s"))
        let text = try KVTool.run("get", dir.sub("s"), "greeting")
        #expect(text.status == 0)
        #expect(text.out == "hello world")
        #expect(text.stderr == "")
        let binary = try KVTool.run("get", dir.sub("s"), "dead", "--key-encoding", "hex")
        #expect(binary.status == 0)
        #expect(binary.stdout == Self.binary)
        let empty = try KVTool.run("get", dir.sub("s"), "empty")
        #expect(empty.status == 0)
        #expect(empty.stdout == [])
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func rendersWithAnEncoding() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        #expect(try KVTool.run("get", dir.sub("s"), "0xdead", "--key-encoding", "hex", "--encoding", "hex").out == "000102fffe0a0d80\n")
        #expect(try KVTool.run("get", dir.sub("s"), "3q0=", "--key-encoding", "base64", "--encoding", "base64").out == "AAEC//4KDYA=\n")
        #expect(try KVTool.run("get", dir.sub("s"), "dead", "--key-encoding", "hex", "--encoding", "auto").out == "0x000102fffe0a0d80\n")
        #expect(try KVTool.run("get", dir.sub("s"), "greeting", "--encoding", "auto").out == "hello world\n")
        let json = try KVTool.run("get", dir.sub("s"), "greeting", "--format", "json")
        #expect(json.json["key"] as? String == "greeting")
        #expect(json.json["value"] as? String == "hello world")
    }

    @Test func aMissingKeyExitsOneAndChangesNothing() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let before = DirectorySnapshot(dir.sub("s"))
        let run = try KVTool.run("get", dir.sub("s"), "nope")
        #expect(run.status == 1)
        #expect(run.stdout == [])
        #expect(run.stderr == "kvtool: \(dir.sub("s")): no such key: nope\n")
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func badArgumentsAreUsageErrors() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let before = DirectorySnapshot(dir.sub("s"))
        let badHex = try KVTool.run("get", dir.sub("s"), "xyz", "--key-encoding", "hex")
        #expect(badHex.status == 64)
        #expect(badHex.stderr == "kvtool: KEY is not valid hex: xyz\n")
        let tooLong = try KVTool.run("get", dir.sub("s"), String(repeating: "k", count: 70_000))
        #expect(tooLong.status == 64)
        let missingKey = try KVTool.run("get", dir.sub("s"))
        #expect(missingKey.status == 64)
        #expect(missingKey.stderr.contains("Missing expected argument"))
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }
}
