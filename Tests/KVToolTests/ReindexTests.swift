import Foundation
import Testing

@Suite struct ReindexTests {
    @Test func rebuildsTheIndexFromTheLog() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let expected = try Fixtures.contents(store)
        // Damage the index: a slot's hash now points nowhere useful.
        try Fixtures.overwrite(store + "/index", at: 4096, with: [UInt8](repeating: 0xAB, count: 4096))
        let run = try KVTool.run("reindex", store)
        #expect(run.status == 0)
        #expect(run.stderr == "")
        #expect(run.out.hasPrefix("rebuilt the index: 600 keys from \(Fixtures.segments(store).count) segments, "))
        #expect(try KVTool.run("verify", store).out == "OK\n")
        #expect(try Fixtures.contents(store) == expected)
    }

    @Test func aMissingIndexIsRebuiltToo() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 100)
        try FileManager.default.removeItem(atPath: store + "/index")
        let run = try KVTool.run("reindex", store, "--format", "json")
        #expect(run.status == 0)
        #expect(run.json["keys"] as? Int == 100)
        #expect(FileManager.default.fileExists(atPath: store + "/index"))
    }

    @Test func leavesALockedStoreAlone() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 100)
        let before = DirectorySnapshot(store)
        let holder = try LockHolder(store: store)
        let run = try KVTool.run("reindex", store)
        holder.release()
        #expect(run.status == 75)
        #expect(run.stderr == "kvtool: \(store): locked: another process has the store open for writing; "
                + "try again when it has closed it (read commands work meanwhile)\n")
        #expect(DirectorySnapshot(store) == before)
    }

    /// The store's lock is on its directory: a store open elsewhere is left alone even when its
    /// LOCK file was deleted (as "stale lock" clean-ups do), and its index is not touched.
    @Test func leavesAnOpenStoreAloneEvenWithoutItsLockFile() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let open = try KVStoreHandle(path: store)
        defer { open.close() }
        try open.fill()
        try FileManager.default.removeItem(atPath: store + "/LOCK")
        let index = DirectorySnapshot(store).files["index"]
        let run = try KVTool.run("reindex", store)
        #expect(run.status == 75)
        #expect(run.stderr == "kvtool: \(store): locked: process \(getpid()) has the store open for writing; "
                + "try again when it has closed it (read commands work meanwhile)\n")
        #expect(DirectorySnapshot(store).files["index"] == index)
        #expect(!FileManager.default.fileExists(atPath: store + "/LOCK"))
    }

    @Test func refusesWhatIsNotAStore() throws {
        let dir = try TemporaryDirectory()
        let run = try KVTool.run("reindex", dir.path)
        #expect(run.status == 66)
        #expect(DirectorySnapshot(dir.path).files.isEmpty)
    }
}
