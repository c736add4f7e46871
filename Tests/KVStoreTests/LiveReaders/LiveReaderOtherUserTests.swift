@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Live readers (issue 9) of another user than the writer's: a reader may only read the store's
/// files, so it must never need to write, create or lock-for-writing anything in the store.
///
/// When the tests run as root, the reader child (`kvstore-crash-child --live-reader --drop-to
/// 65534`) gives up root for 'nobody' (groups, gid and uid, after exec and before it opens
/// anything) while the writer stays root. When they do not run as root, the same child runs as the
/// same user as the writer, without dropping anything: the tests then still check a reader that
/// only reads, but not one that *may* only read; the directory that is not writable is then only
/// made so where no writer needs it (a non-root writer could not create segments in it).
///
/// The store lives under /tmp/kvstore-otheruser-XXXXXX (0755): the usual temporary directory may
/// sit in a directory other users cannot traverse. The store's files are made readable by others
/// (umask 022 while the test runs, and a chmod of what exists).
@Suite("Live readers: another user", .serialized)
struct LiveReaderOtherUserTests {
    static let nobody = 65534
    static var isRoot: Bool { getuid() == 0 }
    /// The uid the reader is expected to run as.
    static var readerUID: Int { isRoot ? nobody : Int(getuid()) }

    static func withOtherUserDirectory(_ body: (String) throws -> Void) throws {
        let previousMask = umask(0o022)
        defer { umask(previousMask) }
        var template = Array("/tmp/kvstore-otheruser-XXXXXX".utf8CString)
        let directory = try template.withUnsafeMutableBufferPointer { buffer -> String in
            guard let made = mkdtemp(buffer.baseAddress!) else { throw FileSurgery.Failure(description: "mkdtemp: errno \(errno)") }
            return String(cString: made)
        }
        defer {
            makeReadableByOthers(directory)
            try? FileManager.default.removeItem(atPath: directory)
        }
        #expect(chmod(directory, 0o755) == 0)
        try body(directory)
    }

    /// Directories 0755, files 0644, below `path`.
    static func makeReadableByOthers(_ path: String) {
        chmod(path, 0o755)
        for name in (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? [] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory) else { continue }
            chmod(path + "/" + name, isDirectory.boolValue ? 0o755 : 0o644)
        }
    }

    /// The writer (root) writes while the other user's reader reads: it sees acknowledged writes,
    /// and writes made after it opened, through rolls, compactions and growth of the index.
    @Test func readerOfAnotherUserSeesTheWritersWrites() throws {
        try Self.withOtherUserDirectory { directory in
            var live = try LiveProcesses(directory: directory, seed: testSeed())
            try live.createStore()
            Self.makeReadableByOthers(directory)
            let stopWriter = live.stopFile("writer"), stopReader = live.stopFile("reader")
            let writer = try live.writer(stop: stopWriter)
            defer { if writer.isRunning { writer.kill9() } }
            try writer.waitForLine("W open")
            guard try live.waitForProgress(1_000, from: 0, writer: writer) else { return }
            let reader = try live.reader(stop: stopReader, dropTo: Self.nobody)
            defer { if reader.isRunning { reader.kill9() } }
            #expect(try reader.waitForLine("R ready").fields["access"] == "live:\(writer.pid)", "\(reader)")
            guard try live.waitForProgress(8_000, from: try live.progress(), writer: writer) else { return }
            _ = FileManager.default.createFile(atPath: stopReader, contents: nil)
            live.expectReaderReport(reader, fresh: true, uid: Self.readerUID, "the reader of another user")
            _ = FileManager.default.createFile(atPath: stopWriter, contents: nil)
            live.expectWriterFinishes(writer, "the writer")
            try live.check()
        }
    }

    /// A store that a root writer created, filled and closed cleanly, in a directory made 0555:
    /// the other user's reader opens it and reads every key right, and no byte of the store changes.
    @Test func readerOfAnotherUserOpensAClosedStoreInADirectoryItCannotWrite() throws {
        try Self.withOtherUserDirectory { directory in
            var live = try LiveProcesses(directory: directory, seed: testSeed())
            try live.createStore()
            live.expectWriterFinishes(try live.writer(ops: 4_000), "filling the store")
            Self.makeReadableByOthers(directory)
            #expect(chmod(live.store, 0o555) == 0)
            let before = try FileSurgery.snapshot(live.store)
            let report = live.expectReaderReport(try live.reader(reads: 20_000, dropTo: Self.nobody), fresh: false, uid: Self.readerUID,
                                                 "the reader of another user on a closed store")
            #expect(report?.fields["access"] == "live:none")
            #expect(try FileSurgery.snapshot(live.store) == before, "the reader changed the store")
        }
    }

    /// The same directory (0555) after the writer was killed: the index was left open and no
    /// writer is alive, so the reader must work the store out without writing anything to it.
    @Test func readerOfAnotherUserOpensAStoreLeftOpenInADirectoryItCannotWrite() throws {
        try Self.withOtherUserDirectory { directory in
            var live = try LiveProcesses(directory: directory, seed: testSeed())
            try live.createStore()
            let writer = try live.writer()
            try writer.waitForLine("W open")
            guard try live.waitForProgress(4_000, from: 0, writer: writer) else { return }
            writer.kill9()
            Self.makeReadableByOthers(directory)
            #expect(chmod(live.store, 0o555) == 0)
            let before = try FileSurgery.snapshot(live.store)
            let report = live.expectReaderReport(try live.reader(reads: 20_000, dropTo: Self.nobody), fresh: false, uid: Self.readerUID,
                                                 "the reader of another user on a store left open")
            #expect(report?.fields["access"] == "snapshot")
            #expect(try FileSurgery.snapshot(live.store) == before, "the reader changed the store")
        }
    }

    /// The directory is 0555 while a root writer has the store open and writes (root may create
    /// files in it all the same): the other user's reader follows the writes. Without root the
    /// writer could not write there, so the directory stays 0755.
    @Test func readerOfAnotherUserFollowsAWriterInADirectoryItCannotWrite() throws {
        try Self.withOtherUserDirectory { directory in
            var live = try LiveProcesses(directory: directory, seed: testSeed())
            try live.createStore()
            live.expectWriterFinishes(try live.writer(ops: 1_000), "filling the store")
            Self.makeReadableByOthers(directory)
            if Self.isRoot { #expect(chmod(live.store, 0o555) == 0) }
            let stopWriter = live.stopFile("writer"), stopReader = live.stopFile("reader")
            let writer = try live.writer(stop: stopWriter, lz4: true)
            defer { if writer.isRunning { writer.kill9() } }
            try writer.waitForLine("W open")
            let reader = try live.reader(stop: stopReader, dropTo: Self.nobody)
            defer { if reader.isRunning { reader.kill9() } }
            #expect(try reader.waitForLine("R ready").fields["access"] == "live:\(writer.pid)", "\(reader)")
            guard try live.waitForProgress(8_000, from: try live.progress(), writer: writer) else { return }
            _ = FileManager.default.createFile(atPath: stopReader, contents: nil)
            live.expectReaderReport(reader, fresh: true, uid: Self.readerUID, "the reader of another user beside a writer")
            _ = FileManager.default.createFile(atPath: stopWriter, contents: nil)
            live.expectWriterFinishes(writer, "the writer in the 0555 directory")
            chmod(live.store, 0o755)
            try live.check()
        }
    }
}
