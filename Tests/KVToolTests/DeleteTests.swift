import Foundation
import Testing

@Suite struct DeleteTests {
    private func makeStore(_ path: String) throws {
        try Fixtures.makeStore(path) { s in
            for k in ["a", "b", "c"] { try s.set("value of " + k, forKey: k) }
        }
    }

    @Test func removesKeysTogether() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let run = try KVTool.run("delete", dir.sub("s"), "a", "c")
        #expect(run.status == 0)
        #expect(run.out == "deleted 2 keys\n")
        #expect(try Fixtures.contents(dir.sub("s")).keys.map { String(decoding: $0, as: UTF8.self) } == ["b"])
    }

    @Test func aMissingKeyRefusesTheWholeDelete() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let before = DirectorySnapshot(dir.sub("s"))
        let run = try KVTool.run("delete", dir.sub("s"), "a", "nope")
        #expect(run.status == 1)
        #expect(run.stderr == "kvtool: \(dir.sub("s")): no such key: nope; nothing was deleted (use --force to skip missing keys)\n")
        #expect(DirectorySnapshot(dir.sub("s")) == before)
        #expect(try Fixtures.contents(dir.sub("s")).count == 3)
    }

    @Test func forceSkipsMissingKeys() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        let run = try KVTool.run("delete", dir.sub("s"), "a", "nope", "--force", "--format", "json")
        #expect(run.status == 0)
        #expect(run.json["deleted"] as? Int == 1)
        #expect(run.json["missing"] as? Int == 1)
        #expect(try Fixtures.contents(dir.sub("s")).count == 2)
    }

    @Test func needsAKey() throws {
        let dir = try TemporaryDirectory()
        try makeStore(dir.sub("s"))
        #expect(try KVTool.run("delete", dir.sub("s")).status == 64)
    }
}
