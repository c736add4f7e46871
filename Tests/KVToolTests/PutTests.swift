import Foundation
import Testing

@Suite struct PutTests {
    @Test func setsFromAnArgumentAFileAndStdin() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let create = try KVTool.run("put", store, "a", "from argument", "--create")
        #expect(create.status == 0)
        #expect(create.stdout == [] && create.stderr == "")
        let blob: [UInt8] = (0..<1000).map { UInt8($0 % 256) }
        try Data(blob).write(to: URL(fileURLWithPath: dir.sub("blob")))
        #expect(try KVTool.run("put", store, "b", "--value-file", dir.sub("blob")).status == 0)
        #expect(try KVTool.run("put", store, "c", "-", stdin: [0, 1, 2, 3]).status == 0)
        #expect(try KVTool.run("put", store, "6b6579", "00ff", "--key-encoding", "hex", "--value-encoding", "hex").status == 0)
        let contents = try Fixtures.contents(store)
        #expect(contents[Array("a".utf8)] == Array("from argument".utf8))
        #expect(contents[Array("b".utf8)] == blob)
        #expect(contents[Array("c".utf8)] == [0, 1, 2, 3])
        #expect(contents[Array("key".utf8)] == [0x00, 0xFF])
    }

    @Test func aMissingStoreIsNotCreatedWithoutCreate() throws {
        let dir = try TemporaryDirectory()
        let run = try KVTool.run("put", dir.sub("s"), "a", "b")
        #expect(run.status == 66)
        #expect(run.stderr == "kvtool: \(dir.sub("s")): no such store (use --create to make a new one)\n")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("s")))
    }

    /// Several `put --create` racing on a missing path: each either writes its key or is told the
    /// store is locked, never that the half-made directory is not a store.
    @Test func concurrentCreatesEachSucceedOrSayLocked() throws {
        for round in 0..<10 {
            let dir = try TemporaryDirectory()
            let store = dir.sub("new")
            let runs = try KVTool.runConcurrently((0..<6).map { ["put", store, "key-\($0)", "value-\($0)", "--create"] })
            // kvtool's part: it leaves a directory another process is creating to Store(path:).
            for (i, run) in runs.enumerated() {
                #expect(!run.stderr.contains("not a KVStore directory"), "round \(round), process \(i): \(run.stderr)")
            }
            // The library's part: Store(path:) decides to create only while it holds the lock.
            for (i, run) in runs.enumerated() {
                #expect(run.status == 0 || run.status == 75, "round \(round), process \(i): exit \(run.status): \(run.stderr)")
                if run.status == 75 {
                    // It names the writer's process when a live reader could read it in the store.
                    let prefix = "kvtool: \(store): locked: "
                    let suffix = " has the store open for writing; try again when it has closed it (read commands work meanwhile)\n"
                    #expect(run.stderr.hasPrefix(prefix) && run.stderr.hasSuffix(suffix), "\(run.stderr)")
                    let who = run.stderr.dropFirst(prefix.count).dropLast(suffix.count)
                    #expect(who == "another process" || (who.hasPrefix("process ") && Int32(who.dropFirst(8)) != nil), "\(run.stderr)")
                }
            }
            #expect(runs.contains { $0.status == 0 }, "round \(round)")
            let contents = try Fixtures.contents(store)
            for (i, run) in runs.enumerated() where run.status == 0 {
                #expect(contents[Array("key-\(i)".utf8)] == Array("value-\(i)".utf8), "round \(round), process \(i): its put exited 0")
            }
        }
    }

    /// What another process's create leaves for a moment (LOCK, STORE.tmp) does not stop this one.
    @Test func aDirectoryWithOnlyAStaleLockOrTemporaryStoreFileIsCreatable() throws {
        let dir = try TemporaryDirectory()
        for names in [["LOCK"], ["STORE.tmp"], ["LOCK", "STORE.tmp"]] {
            let store = dir.sub(names.joined(separator: "+"))
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            for name in names { try Data().write(to: URL(fileURLWithPath: store + "/" + name)) }
            let run = try KVTool.run("put", store, "k", "v", "--create")
            #expect(run.status == 0, "\(names): \(run.stderr)")
            #expect(try Fixtures.contents(store) == [Array("k".utf8): Array("v".utf8)], "\(names)")
        }
        // Anything else is still not a store, and stays as it is.
        let other = dir.sub("other")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        for name in ["LOCK", "notes.txt"] { try Data().write(to: URL(fileURLWithPath: other + "/" + name)) }
        let before = DirectorySnapshot(other)
        #expect(try KVTool.run("put", other, "k", "v", "--create").status == 66)
        #expect(DirectorySnapshot(other) == before)
    }

    @Test func refusedInputChangesNothing() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeStore(store) { try $0.set("v", forKey: "k") }
        let before = DirectorySnapshot(store)

        let missingFile = try KVTool.run("put", store, "k", "--value-file", dir.sub("nope"))
        #expect(missingFile.status == 66)
        #expect(missingFile.stderr.hasPrefix("kvtool: \(dir.sub("nope")): cannot open: "))

        try Data("secret".utf8).write(to: URL(fileURLWithPath: dir.sub("unreadable")))
        chmod(dir.sub("unreadable"), 0)
        if getuid() != 0 {  // root reads anything
            let unreadable = try KVTool.run("put", store, "k", "--value-file", dir.sub("unreadable"))
            #expect(unreadable.status == 66)
            #expect(unreadable.stderr.contains(dir.sub("unreadable")))
        }

        let both = try KVTool.run("put", store, "k", "v", "--value-file", dir.sub("nope"))
        #expect(both.status == 64)
        let neither = try KVTool.run("put", store, "k")
        #expect(neither.status == 64)
        let emptyKey = try KVTool.run("put", store, "", "v")
        #expect(emptyKey.status == 64)
        #expect(emptyKey.stderr == "kvtool: keys must not be empty\n")
        let createsMissing = try KVTool.run("put", dir.sub("new"), "k", "v", "--create")
        #expect(createsMissing.status == 0)
        try Data().write(to: URL(fileURLWithPath: dir.sub("file")))
        let file = try KVTool.run("put", dir.sub("file"), "k", "v", "--create")
        #expect(file.status == 66)
        #expect(file.stderr == "kvtool: \(dir.sub("file")): not a store (not a directory)\n")
        #expect(DirectorySnapshot(store) == before)
    }
}
