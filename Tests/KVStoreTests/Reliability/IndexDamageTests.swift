@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An index file that lies (holes, no empty slot, impossible counts) is never trusted into a hang,
/// a crash or a lost key: the log is the truth (issue 7, items 6 and 7).
@Suite("Reliability: damaged index files")
struct IndexDamageTests {
    static func populate(_ directory: String, keys: Int, expectedKeyCount: Int = 0) throws -> Store.Configuration {
        var configuration = TestStores.configuration(segmentSize: 1 << 20)
        configuration.automaticCompaction = nil
        configuration.expectedKeyCount = expectedKeyCount
        let store = try Store(path: directory, configuration: configuration)
        for i in 0..<keys { try store.set(Array("value \(i)".utf8), forKey: Array("key \(i)".utf8)) }
        try store.close()
        configuration.expectedKeyCount = 0
        return configuration
    }

    static func expectAllKeys(_ store: Store, _ count: Int) throws {
        let missing = try (0..<count).filter { try store.value(forKey: Array("key \($0)".utf8)) != Array("value \($0)".utf8) }
        #expect(missing.isEmpty, "\(missing.count) keys lost")
    }

    /// Rewrites `path` with a hole wherever a 4 KiB page is all zeros, as `cp --sparse=always` does.
    static func makeSparse(_ path: String) throws {
        let bytes = try FileSurgery.read(path)
        try FileSurgery.remove(path)
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(ftruncate(fd, off_t(bytes.count)) == 0)
        bytes.withUnsafeBytes { raw in
            var page = 0
            while page < bytes.count {
                let count = min(4096, bytes.count - page)
                let chunk = UnsafeRawBufferPointer(rebasing: raw[page ..< page + count])
                if chunk.contains(where: { $0 != 0 }) { _ = pwrite(fd, chunk.baseAddress, count, off_t(page)) }
                page += 4096
            }
        }
    }

    static func hasHole(_ path: String) throws -> Bool {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        return try Sys.hasHole(fd)
    }

    @Test func sparseIndexIsFullyAllocatedBeforeAWriterMapsIt() throws {
        try withScratchDirectory { directory in
            let configuration = try Self.populate(directory, keys: 1_000, expectedKeyCount: 200_000)
            let index = directory + "/" + FileNames.index
            try Self.makeSparse(index)
            #expect(try Self.hasHole(index), "the test did not make the index sparse")
            let store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            #expect(try !Self.hasHole(index), "a writer mapped an index with holes")
            try Self.expectAllKeys(store, 1_000)
            try store.close()
        }
    }

    @Test func sparseIndexIsNotMappedByAReadOnlyOpenWhichRebuildsOutsideTheStore() throws {
        try withScratchDirectory { directory in
            var configuration = try Self.populate(directory, keys: 1_000, expectedKeyCount: 200_000)
            let index = directory + "/" + FileNames.index
            try Self.makeSparse(index)
            let before = try FileSurgery.snapshot(directory)
            configuration.readOnly = true
            let store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            try Self.expectAllKeys(store, 1_000)
            try store.close()
            #expect(try FileSurgery.snapshot(directory) == before)
            #expect(try Self.hasHole(index))
        }
    }

    /// Every slot of the table holds a key: a probe for a new key finds no empty slot.
    static func fillEverySlot(_ directory: String) throws {
        let path = directory + "/" + FileNames.index
        let size = try FileSurgery.size(path)
        try FileSurgery.overwrite(path, at: IndexHeader.pageSize, with: [UInt8](repeating: 0xFF, count: size - IndexHeader.pageSize))
    }

    @Test func indexWithNoEmptySlotFailsTheWriteAndIsRebuiltOnTheNextOpen() throws {
        try withScratchDirectory { directory in
            let configuration = try Self.populate(directory, keys: 100)
            try Self.fillEverySlot(directory)
            let store = try Store(path: directory, configuration: configuration)
            do {
                try store.set("new", forKey: "a new key")
                Issue.record("a write into a table with no empty slot succeeded")
            } catch let error as KVError {
                #expect(error.code == .corruption)
                #expect(error.message.contains("inconsistent"), "\(error)")
            }
            // Writes stay refused: a clean close must not mark the damaged table trusted.
            #expect(throws: KVError.self) { try store.set("new", forKey: "key 1") }
            #expect(throws: KVError.self) { try store.close() }

            let reopened = try Store(path: directory, configuration: configuration)
            #expect(reopened.recoveryReport.indexTrust == .rebuilt)
            #expect(reopened.recoveryReport.problems.contains { $0.message.contains("inconsistent") },
                    "\(reopened.recoveryReport.problems)")
            try Self.expectAllKeys(reopened, 100)
            #expect(try reopened.value(forKey: "a new key") == nil, "the write that threw is in the store")
            try reopened.set("new", forKey: "a new key")
            #expect(try reopened.verify().isOK)
            try reopened.close()
        }
    }

    @Test func replayIntoAnIndexWithNoEmptySlotRebuildsInsteadOfHanging() throws {
        try withScratchDirectory { directory in
            var configuration = TestStores.configuration(segmentSize: 1 << 20)
            configuration.automaticCompaction = nil
            let store = try Store(path: directory, configuration: configuration)
            for i in 0..<100 { try store.set(Array("value \(i)".utf8), forKey: Array("key \(i)".utf8)) }
            store.simulateCrash()
            try Self.fillEverySlot(directory)
            // Every record is after `covered`: the replay must insert them all.
            try FileSurgery.overwrite(directory + "/" + FileNames.index, at: IndexHeader.covered,
                                      with: withUnsafeBytes(of: LogPosition(segmentID: 1, offset: SegmentHeader.size).word.littleEndian, Array.init))
            let reopened = try Store(path: directory, configuration: configuration)
            #expect(reopened.recoveryReport.indexTrust == .rebuilt)
            #expect(reopened.recoveryReport.problems.contains { $0.message.contains("inconsistent") },
                    "\(reopened.recoveryReport.problems)")
            try Self.expectAllKeys(reopened, 100)
            try reopened.close()
        }
    }

    @Test func ioErrorReadingTheIndexOnOpenIsThrownNotHiddenByARebuild() throws {
        try withScratchDirectory { directory in
            let configuration = try Self.populate(directory, keys: 100)
            let before = try FileSurgery.snapshot(directory)
            let fault = BadInputTests.Fault(.pread, errno: EIO, pathSuffixes: ["/" + FileNames.index])
            fault.armed.store(true, ordering: .releasing)
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                do {
                    let store = try Store(path: directory, configuration: configuration)
                    Issue.record("opened although the index could not be read: \(store.recoveryReport.indexTrust)")
                    try store.close()
                } catch let error as KVError {
                    #expect(error.code == .io && error.errno == EIO && error.systemCall == "pread", "\(error)")
                }
            }
            #expect(try FileSurgery.snapshot(directory) == before)
        }
    }

    @Test func indexWhoseCountsExceedItsTableIsRebuilt() throws {
        try withScratchDirectory { directory in
            let configuration = try Self.populate(directory, keys: 100)
            let path = directory + "/" + FileNames.index
            // Still "clean" (the checksum covers the header, so patch it consistently) but claiming more keys than 1,024 slots hold.
            let header = HashIndexHeaderPatch(path: path)
            try header.set(IndexHeader.liveCount, 1_000)
            let store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            try Self.expectAllKeys(store, 100)
            #expect(try store.statistics.keys == 100)
            try store.close()
        }
    }
}

/// Patches words of a clean index header and recomputes its checksum.
struct HashIndexHeaderPatch {
    let path: String

    func set(_ offset: Int, _ value: UInt64) throws {
        var page = Array(try FileSurgery.read(path).prefix(IndexHeader.pageSize))
        page.withUnsafeMutableBytes { raw in
            raw.baseAddress!.storeLE(value, at: offset)
            raw.baseAddress!.storeLE(UInt32(0), at: IndexHeader.checksum)
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0 ..< IndexHeader.checksummedLength]))
            raw.baseAddress!.storeLE(checksum, at: IndexHeader.checksum)
        }
        try FileSurgery.overwrite(path, at: 0, with: page)
    }
}
