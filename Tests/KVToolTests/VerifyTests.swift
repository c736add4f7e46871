import Foundation
import Testing

@Suite struct VerifyTests {
    @Test func aHealthyStoreIsOK() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeOverwrittenStore(dir.sub("s"), count: 600)
        let before = DirectorySnapshot(dir.sub("s"))
        let run = try KVTool.run("verify", dir.sub("s"))
        #expect(run.status == 0)
        #expect(run.out == "OK\n")
        #expect(run.stderr == "")
        #expect(DirectorySnapshot(dir.sub("s")) == before)
        let json = try KVTool.run("verify", dir.sub("s"), "--format", "json").json
        #expect(json["ok"] as? Bool == true)
        #expect(json["errors"] as? Int == 0)
        #expect(json["records"] as? Int == 1200)
        #expect(json["keys"] as? Int == 600)
    }

    @Test func listsEveryProblemAndCountsThem() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let segments = Fixtures.segments(store)
        try Fixtures.flipByte(segments[0], at: 32 + 32 + 8 + 10)  // the value of the first record
        try Fixtures.flipByte(segments[1], at: 32 + 32 + 8 + 10)
        let before = DirectorySnapshot(store)
        let run = try KVTool.run("verify", store)
        #expect(run.status == 1)
        #expect(run.lines.contains("\(segments[0]) @32: checksum mismatch"))
        #expect(run.lines.contains("\(segments[1]) @32: checksum mismatch"))
        let count = run.lines.count - 1
        #expect(count >= 2)
        #expect(run.lines.last == "\(count) errors found")
        #expect(run.stderr == "")
        #expect(DirectorySnapshot(store) == before)

        let json = try KVTool.run("verify", store, "--format", "json").json
        #expect(json["ok"] as? Bool == false)
        #expect(json["errors"] as? Int == count)
        let problems = json["problems"] as? [[String: Any]] ?? []
        #expect(problems.contains { $0["path"] as? String == segments[0] && $0["offset"] as? Int == 32 })
    }

    @Test func refusesWhatIsNotAStore() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.sub("plain"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir.sub("plain/file")))
        let before = DirectorySnapshot(dir.sub("plain"))
        let run = try KVTool.run("verify", dir.sub("plain"))
        #expect(run.status == 66)
        #expect(run.stderr == "kvtool: \(dir.sub("plain")): not a KVStore directory (no valid STORE file)\n")
        #expect(DirectorySnapshot(dir.sub("plain")) == before)
    }
}
