import Foundation
import KVStore
import Testing

/// `kvtool backup STORE TARGET`: a consistent copy, incremental into the same target, beside a
/// writer in another process, and refusing targets that hold something else.
@Suite struct BackupCommandTests {
    static func churnKey(_ k: Int) -> String { "churn-" + String(repeating: "0", count: max(0, 3 - String(k).count)) + String(k) }

    @Test func backsUpAndUpdatesAStoreNobodyHasOpen() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s"), target = dir.sub("b")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let expected = try Fixtures.contents(store)
        let first = try KVTool.run("backup", store, target, "--format", "json")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.json["incremental"] as? Bool == false)
        #expect(first.json["live"] as? Bool == false)
        #expect((first.json["filesLinked"] as? Int ?? 0) > 0)
        #expect(try KVTool.run("verify", target).out == "OK\n")
        #expect(try Fixtures.contents(target) == expected)
        let again = try KVTool.run("backup", store, target)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.out.hasPrefix("backed up \(store) to \(target) (updated): "), "\(again.out)")
        #expect(try Fixtures.contents(target) == expected)
    }

    /// Restoring copies the backup without changing it: a later backup into it is still accepted.
    @Test func restoringABackupLeavesItUpdatable() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s"), target = dir.sub("b"), restored = dir.sub("r")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let expected = try Fixtures.contents(store)
        #expect(try KVTool.run("backup", store, target).status == 0)
        let before = DirectorySnapshot(target)
        let restore = try KVTool.run("backup", target, restored)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try Fixtures.contents(restored) == expected)
        #expect(DirectorySnapshot(target).files.filter { $0.key.hasSuffix(".seg") } == before.files.filter { $0.key.hasSuffix(".seg") },
                "restoring changed no segment of the backup")
        let update = try KVTool.run("backup", store, target)
        #expect(update.status == 0, "\(update.stderr)")
    }

    @Test(arguments: ["foreign", "store"])
    func aTargetThatHoldsSomethingElseIsRefusedUnchanged(_ kind: String) throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s"), target = dir.sub("t")
        try Fixtures.makeOverwrittenStore(store, count: 50)
        if kind == "store" {
            try Fixtures.makeOverwrittenStore(target, count: 10)
        } else {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try Data("mine".utf8).write(to: URL(fileURLWithPath: target + "/notes.txt"))
        }
        let before = DirectorySnapshot(target)
        let run = try KVTool.run("backup", store, target)
        #expect(run.status == 73, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("kvtool: \(target): "), "\(run.stderr)")
        #expect(DirectorySnapshot(target) == before)
    }

    /// Beside a writer in another process that overwrites keys and compacts all the while: every
    /// backup is a prefix of its writes (each key holds its latest write up to one point).
    @Test func backsUpBesideAWriterInAnotherProcess() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s"), target = dir.sub("b")
        let writer = try LiveWriter(store: store)
        try writer.send("fill 300")
        try writer.send("churn start")
        var backups = 0
        for round in 0..<5 {
            usleep(50_000)
            let run = try KVTool.run("backup", store, target, "--format", "json")
            #expect(run.status == 0, "round \(round): \(run.stderr)")
            #expect(run.json["live"] as? Bool == true)
            backups += run.status == 0 ? 1 : 0
            var configuration = Store.Configuration()
            configuration.readOnly = true
            let backup = try Store(path: target, configuration: configuration)
            var writes: [Int: Int] = [:]
            for k in 0..<200 {
                guard let value = try backup.value(forKey: Self.churnKey(k)) else { continue }
                let words = String(decoding: value.prefix(40), as: UTF8.self).split(separator: " ")
                writes[k] = Int(words[3])!
            }
            let latest = writes.values.max() ?? -1
            for k in 0..<200 {
                let expected = latest - k < 0 ? nil : latest - ((latest - k) % 200)
                #expect(writes[k] == expected, "round \(round), key \(k): write \(String(describing: writes[k])), expected \(String(describing: expected))")
            }
            for i in stride(from: 0, to: 300, by: 37) { #expect(try backup.value(forKey: LiveStoreTests.fillKey(i)) != nil) }
            try backup.close()
        }
        let (_, compactions) = try writer.send("churn stop").split(separator: " ").dropFirst().map { Int($0) ?? 0 }.pair()
        #expect(compactions > 0, "the writer compacted during the backups")
        #expect(writer.close() == 0)
        #expect(backups == 5)
        #expect(try KVTool.run("verify", target).out == "OK\n")
    }
}

private extension Array where Element == Int {
    func pair() -> (Int, Int) { (count > 0 ? self[0] : 0, count > 1 ? self[1] : 0) }
}
