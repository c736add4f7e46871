@testable import KVStore
import Foundation
import Testing

func sharedMemoryIsAMemoryFileSystem() -> Bool { Sys.memoryFileSystemSpace("/dev/shm")?.isMemory == true }

/// The index a writer keeps in shared memory (``Store/IndexPlacement``, FORMAT.md §4.4): a link
/// `index` into a memory file system while open, a regular file again after a clean close, trusted
/// after a crash in the same boot, rebuilt when the memory is gone, never shared with a copy.
@Suite("Index: in shared memory", .enabled(if: sharedMemoryIsAMemoryFileSystem(), "/dev/shm is not a tmpfs here"))
struct SharedMemoryIndexTests {
    /// A directory of its own in `/dev/shm` (a memory file system) for the store's index files,
    /// so that tests neither see nor remove anybody else's.
    static func withSharedMemoryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let path = "/dev/shm/kvstore-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    static func configuration(_ sharedMemory: String, placement: Store.IndexPlacement = .sharedMemory) -> Store.Configuration {
        var configuration = Store.Configuration()
        configuration.indexPlacement = placement
        configuration.sharedMemoryDirectory = sharedMemory
        configuration.segmentSize = 64 << 10
        return configuration
    }

    static func files(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    static func fill(_ store: Store, keys: Range<Int>, round: Int = 0) throws {
        for i in keys { try store.set("value \(i) of round \(round)", forKey: "key\(i)") }
    }

    /// Opens a store that keeps its index in `shm`, fills it, and abandons it as a crash would.
    static func fillAndCrash(_ dir: String, _ shm: String, keys: Range<Int>, round: Int = 0) throws {
        let store = try Store(path: dir, configuration: configuration(shm))
        try fill(store, keys: keys, round: round)
        store.simulateCrash()
    }

    static func expectFilled(_ store: Store, keys: Range<Int>, round: Int = 0) throws {
        for i in keys { #expect(try store.string(forKey: "key\(i)") == "value \(i) of round \(round)") }
        #expect(try store.statistics.keys == keys.count)
    }

    @Test func indexIsInSharedMemoryWhileOpenAndARegularFileAfterClose() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                let index = dir + "/index"
                do {
                    let store = try Store(path: dir, configuration: Self.configuration(shm))
                    try Self.fill(store, keys: 0..<500)
                    #expect(Sys.isSymbolicLink(index))
                    let held = try Self.files(in: shm)
                    #expect(held.count == 1)
                    #expect(Sys.linkTarget(index) == shm + "/" + held[0])
                    try store.close()
                }
                #expect(!Sys.isSymbolicLink(index))
                #expect(Sys.kind(of: index) == .file)
                #expect(try Self.files(in: shm).isEmpty)
                // Trusted as closed cleanly, and moved into shared memory again.
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .clean)
                #expect(Sys.isSymbolicLink(index))
                try Self.expectFilled(store, keys: 0..<500)
                try store.close()
                #expect(try Self.files(in: shm).isEmpty)
            }
        }
    }

    /// A store reopened keeps the file it was opened with (as `index.base.tmp`), and a clean close
    /// writes only the pages changed since into it: the same inode is `index` again (debug builds
    /// also compare every byte with the table in shared memory).
    @Test func cleanCloseWritesChangedPagesIntoTheFileTheStoreWasOpenedWith() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                var configuration = Self.configuration(shm)
                configuration.expectedKeyCount = 50_000  // 1.6 MB of index: 380 pages
                do {
                    let store = try Store(path: dir, configuration: configuration)
                    try Self.fill(store, keys: 0..<20_000)
                    try store.close()
                }
                // A second name keeps the inode alive, so that a new file cannot get its number.
                try Sys.link(dir + "/index", dir + "/../" + (dir as NSString).lastPathComponent + ".held-index")
                defer { try? FileManager.default.removeItem(atPath: dir + "/../" + (dir as NSString).lastPathComponent + ".held-index") }
                let opened = try #require(Sys.identity(ofPath: dir + "/index"))
                do {
                    let store = try Store(path: dir, configuration: configuration)
                    #expect(Sys.kind(of: HashIndex.basePath(in: dir)) == .file)
                    try Self.fill(store, keys: 0..<100, round: 1)
                    try store.removeValue(forKey: "key19999")
                    try store.set("new", forKey: "brand new key")
                    try store.close()
                }
                #expect(Sys.identity(ofPath: dir + "/index") == opened)
                #expect(Sys.kind(of: HashIndex.basePath(in: dir)) == .missing)
                #expect(try Self.files(in: shm).isEmpty)
                let store = try Store(path: dir, configuration: Self.configuration(shm, placement: .file))
                #expect(store.recoveryReport.indexTrust == .clean)
                for i in 0..<100 { #expect(try store.string(forKey: "key\(i)") == "value \(i) of round 1") }
                for i in 100..<19_999 { #expect(try store.string(forKey: "key\(i)") == "value \(i) of round 0") }
                #expect(try store.value(forKey: "key19999") == nil)
                #expect(try store.string(forKey: "brand new key") == "new")
                #expect(try store.statistics.keys == 20_000)
                try store.close()
            }
        }
    }

    /// A table that grew is not the one the store was opened with: the close writes all of it,
    /// and the old file is removed.
    @Test func cleanCloseAfterGrowthWritesTheWholeTable() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                do {
                    let store = try Store(path: dir, configuration: Self.configuration(shm))
                    try Self.fill(store, keys: 0..<500)
                    try store.close()
                }
                // A second name keeps the inode alive, so that a new file cannot get its number.
                try Sys.link(dir + "/index", dir + "/../" + (dir as NSString).lastPathComponent + ".held-index")
                defer { try? FileManager.default.removeItem(atPath: dir + "/../" + (dir as NSString).lastPathComponent + ".held-index") }
                let opened = try #require(Sys.identity(ofPath: dir + "/index"))
                do {
                    let store = try Store(path: dir, configuration: Self.configuration(shm))
                    try Self.fill(store, keys: 500..<5000)
                    try store.close()
                }
                #expect(Sys.identity(ofPath: dir + "/index") != opened)
                #expect(Sys.kind(of: HashIndex.basePath(in: dir)) == .missing)
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .clean)
                try Self.expectFilled(store, keys: 0..<5000)
                try store.close()
            }
        }
    }

    @Test func indexInSharedMemoryIsTrustedAfterACrashInTheSameBoot() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                try Self.fillAndCrash(dir, shm, keys: 0..<3000)
                #expect(Sys.isSymbolicLink(dir + "/index"))
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .replayed)
                try Self.expectFilled(store, keys: 0..<3000)
                #expect(try Self.files(in: shm).count == 1)
                try store.close()
            }
        }
    }

    /// A writer that dies leaves the kept file stale: the next open removes it and trusts the table
    /// in shared memory; its close then writes the whole table.
    @Test func crashAfterReopenRemovesTheStaleFileTheStoreWasOpenedWith() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                do {
                    let store = try Store(path: dir, configuration: Self.configuration(shm))
                    try Self.fill(store, keys: 0..<1000)
                    try store.close()
                }
                try Self.fillAndCrash(dir, shm, keys: 0..<1000, round: 1)
                #expect(Sys.kind(of: HashIndex.basePath(in: dir)) == .file)
                do {
                    let store = try Store(path: dir, configuration: Self.configuration(shm))
                    #expect(store.recoveryReport.indexTrust == .replayed)
                    #expect(Sys.kind(of: HashIndex.basePath(in: dir)) == .missing)
                    try Self.expectFilled(store, keys: 0..<1000, round: 1)
                    try store.close()
                }
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .clean)
                try Self.expectFilled(store, keys: 0..<1000, round: 1)
                try store.close()
            }
        }
    }

    @Test func indexLostWithSharedMemoryIsRebuilt() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                do {
                    let store = try Store(path: dir, configuration: Self.configuration(shm))
                    try Self.fill(store, keys: 0..<2000)
                    try store.removeValue(forKey: "key7")
                    store.simulateCrash()
                }
                // What a reboot does to a memory file system.
                for name in try Self.files(in: shm) { try FileManager.default.removeItem(atPath: shm + "/" + name) }
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .rebuilt)
                #expect(try store.value(forKey: "key7") == nil)
                for i in 0..<2000 where i != 7 { #expect(try store.string(forKey: "key\(i)") == "value \(i) of round 0") }
                // A regular file, or a link to a table that exists: never the link left dangling.
                if let target = Sys.linkTarget(dir + "/index") {
                    #expect(FileManager.default.fileExists(atPath: target))
                } else {
                    #expect(Sys.kind(of: dir + "/index") == .file)
                }
                try store.close()
                #expect(Sys.kind(of: dir + "/index") == .file)
            }
        }
    }

    /// A table of this directory's in shared memory that is not trusted (a writer found it
    /// inconsistent) is rebuilt, and the untrusted file is removed, not left behind.
    @Test func untrustedIndexInSharedMemoryIsRebuiltAndRemoved() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                try Self.fillAndCrash(dir, shm, keys: 0..<1000)
                let untrusted = try Self.files(in: shm)
                #expect(untrusted.count == 1)
                let handle = try #require(FileHandle(forUpdatingAtPath: shm + "/" + untrusted[0]))
                defer { try? handle.close() }
                try handle.seek(toOffset: UInt64(IndexHeader.state))
                try handle.write(contentsOf: Data([3, 0, 0, 0]))  // state 3: found inconsistent
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .rebuilt)
                // Marked replaced before it was removed: a reader mapping it learns to move on.
                try handle.seek(toOffset: UInt64(IndexHeader.replaced))
                #expect(try handle.read(upToCount: 8) != Data(count: 8))
                let now = try Self.files(in: shm)
                #expect(now.count == 1 && now != untrusted)
                try Self.expectFilled(store, keys: 0..<1000)
                try store.close()
                #expect(try Self.files(in: shm).isEmpty)
            }
        }
    }

    @Test func copyOfACrashedStoreDoesNotUseTheOriginalsIndex() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { parent in
                let original = parent + "/original", copy = parent + "/copy"
                try Self.fillAndCrash(original, shm, keys: 0..<1000)
                let held = try Self.files(in: shm)
                #expect(held.count == 1)
                let before = try Data(contentsOf: URL(fileURLWithPath: shm + "/" + held[0]))
                let cp = Process()
                cp.executableURL = URL(fileURLWithPath: "/bin/cp")
                cp.arguments = ["-a", original, copy]
                try cp.run()
                cp.waitUntilExit()
                #expect(cp.terminationStatus == 0)
                #expect(Sys.isSymbolicLink(copy + "/index"))
                do {
                    let store = try Store(path: copy, configuration: Self.configuration(shm))
                    #expect(store.recoveryReport.indexTrust == .rebuilt)
                    try store.set("only in the copy", forKey: "key1")
                    #expect(try store.string(forKey: "key1") == "only in the copy")
                    try store.close()
                }
                // The original's file is as the crash left it, and the original still trusts it.
                #expect(try Data(contentsOf: URL(fileURLWithPath: shm + "/" + held[0])) == before)
                let store = try Store(path: original, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .replayed)
                try Self.expectFilled(store, keys: 0..<1000)
                try store.close()
                #expect(try Self.files(in: shm).isEmpty)
            }
        }
    }

    @Test func grownIndexStaysInSharedMemoryAndTheOldFileIsRemoved() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                let first = try Self.files(in: shm)
                try Self.fill(store, keys: 0..<5000)  // 1,024 slots at first: grows three times
                let now = try Self.files(in: shm)
                #expect(now.count == 1)
                #expect(now != first)
                #expect(Sys.linkTarget(dir + "/index") == shm + "/" + now[0])
                try Self.expectFilled(store, keys: 0..<5000)
                try store.close()
                #expect(try Self.files(in: shm).isEmpty)
            }
        }
    }

    @Test func leftoversOfThisStoreInSharedMemoryAreRemovedAtOpen() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                try Self.fillAndCrash(dir, shm, keys: 0..<100)
                let live = try Self.files(in: shm)[0]
                // A table a writer made and died before linking (its growth), and a stranger's file.
                let stem = live.dropLast(IndexResidence.suffix.count)
                let orphan = stem[..<(try #require(stem.lastIndex(of: "-")))] + "-abc123" + IndexResidence.suffix
                // One of an earlier store in the same directory (a creation interrupted before
                // `STORE` was in place): another store id, the same directory tag.
                let fields = stem.split(separator: "-")
                let earlier = "kvstore-feed-" + fields[2] + "-" + fields[3] + "-77" + IndexResidence.suffix
                let stranger = "kvstore-0-0-0-abc" + IndexResidence.suffix
                for name in [orphan, earlier, stranger] { _ = FileManager.default.createFile(atPath: shm + "/" + name, contents: Data([1, 2, 3])) }
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(try Self.files(in: shm) == [live, stranger].sorted())
                try store.close()
                #expect(try Self.files(in: shm) == [stranger])
            }
        }
    }

    @Test func placementFileMovesTheIndexOutOfSharedMemory() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                try Self.fillAndCrash(dir, shm, keys: 0..<1000)
                let store = try Store(path: dir, configuration: Self.configuration(shm, placement: .file))
                #expect(store.recoveryReport.indexTrust == .replayed)
                #expect(Sys.kind(of: dir + "/index") == .file && !Sys.isSymbolicLink(dir + "/index"))
                #expect(try Self.files(in: shm).isEmpty)
                try Self.fill(store, keys: 1000..<1100)
                try Self.expectFilled(store, keys: 0..<1100)
                try store.close()
            }
        }
    }

    @Test func automaticPlacementKeepsASmallIndexInTheStoreDirectory() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                let store = try Store(path: dir, configuration: Self.configuration(shm, placement: .automatic))
                try Self.fill(store, keys: 0..<100)
                #expect(!Sys.isSymbolicLink(dir + "/index"))
                #expect(try Self.files(in: shm).isEmpty)
                try store.close()
            }
        }
    }

    @Test func linkToAFileElsewhereIsNotFollowed() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                do {
                    let store = try Store(path: dir, configuration: Self.configuration(shm, placement: .file))
                    try Self.fill(store, keys: 0..<300)
                    try store.close()
                }
                // An `index` that links to a file that is not this store's, in shared memory or not.
                let foreign = shm + "/not-an-index"
                try FileManager.default.moveItem(atPath: dir + "/index", toPath: foreign)
                let before = try Data(contentsOf: URL(fileURLWithPath: foreign))
                try Sys.symbolicLink(foreign, at: dir + "/index")
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .rebuilt)
                try Self.expectFilled(store, keys: 0..<300)
                try store.close()
                #expect(try Data(contentsOf: URL(fileURLWithPath: foreign)) == before)
            }
        }
    }

    @Test func liveReaderFollowsTheIndexIntoSharedMemoryAndBackOut() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                let writer = try Store(path: dir, configuration: Self.configuration(shm))
                try Self.fill(writer, keys: 0..<200)
                var readOnly = Self.configuration(shm)
                readOnly.readOnly = true
                let reader = try Store(path: dir, configuration: readOnly)
                #expect(try reader.string(forKey: "key5") == "value 5 of round 0")
                try Self.fill(writer, keys: 200..<4000)  // grows: a new file in shared memory
                #expect(try reader.string(forKey: "key3999") == "value 3999 of round 0")
                try writer.close()  // moved back into the store directory
                #expect(try reader.string(forKey: "key2500") == "value 2500 of round 0")
                #expect(try reader.statistics.keys == 4000)
                // The reader is on the file now at `index`: a later writer's puts reach it.
                let later = try Store(path: dir, configuration: Self.configuration(shm, placement: .file))
                try later.set("after the close", forKey: "key7")
                #expect(try reader.string(forKey: "key7") == "after the close")
                try later.close()
                try reader.close()
            }
        }
    }

    /// Shared memory is an optimization: a store directory that takes no symbolic link, or a
    /// memory file system that refuses the file, leaves the index a file, and the store works.
    @Test(arguments: [SystemCall.symlink, SystemCall.open])
    func indexStaysAFileWhenSharedMemoryIsRefused(_ refused: SystemCall) throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                let watched = refused == .symlink ? dir : shm
                try withSystemHooks(directory: watched, injector: { call, path in
                    guard call == refused else { return nil }
                    return refused == .symlink ? EPERM : (path?.hasPrefix(shm + "/") == true ? EACCES : nil)
                }) {
                    let store = try Store(path: dir, configuration: Self.configuration(shm))
                    try Self.fill(store, keys: 0..<3000)  // grows twice: each growth asks again
                    #expect(Sys.kind(of: dir + "/index") == .file && !Sys.isSymbolicLink(dir + "/index"))
                    #expect(try Self.files(in: shm).isEmpty)
                    #expect(try !store.statistics.indexInSharedMemory)
                    try store.close()
                }
                let store = try Store(path: dir, configuration: Self.configuration(shm, placement: .file))
                #expect(store.recoveryReport.indexTrust == .clean)
                try Self.expectFilled(store, keys: 0..<3000)
                try store.close()
            }
        }
    }

    /// A table in shared memory that belongs to another user is not trusted, whatever its name:
    /// anybody can create a file under any name in /dev/shm.
    @Test(.enabled(if: geteuid() == 0, "changing a file's owner needs root"))
    func tableOfAnotherUserIsNotTrusted() throws {
        try Self.withSharedMemoryDirectory { shm in
            try withTemporaryDirectory { dir in
                try Self.fillAndCrash(dir, shm, keys: 0..<500)
                let table = shm + "/" + (try Self.files(in: shm))[0]
                #expect(chown(table, 65534, 65534) == 0)
                let store = try Store(path: dir, configuration: Self.configuration(shm))
                #expect(store.recoveryReport.indexTrust == .rebuilt)
                try Self.expectFilled(store, keys: 0..<500)
                try store.close()
            }
        }
    }

    @Test func residenceOwnsOnlyThisStoreDirectorysFiles() throws {
        try withTemporaryDirectory { dir in
            let residence = try #require(IndexResidence(storeDirectory: dir, storeID: 0xABC, sharedMemoryDirectory: "/dev/shm"))
            let mine = residence.newPath()
            #expect(residence.owns(mine))
            #expect(mine.hasPrefix("/dev/shm/kvstore-abc-"))
            #expect(!residence.owns(mine.replacingOccurrences(of: "/dev/shm/", with: "/tmp/")))
            #expect(!residence.owns(residence.directory + "/" + residence.prefix + IndexResidence.suffix))
            #expect(!residence.owns(residence.directory + "/" + residence.prefix + "x/y" + IndexResidence.suffix))
            let other = try #require(IndexResidence(storeDirectory: dir, storeID: 0xABD, sharedMemoryDirectory: "/dev/shm"))
            #expect(!other.owns(mine))
        }
    }
}
