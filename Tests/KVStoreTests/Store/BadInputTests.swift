@testable import KVStore
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The bad-input table: every kind of invalid argument, unusable path, foreign or newer file,
/// locked store, closed store and failing disk gets its typed error; nothing already stored is lost
/// and nothing on disk is changed by a refusal; error messages never carry key or value bytes.
@Suite("Store: bad input")
struct BadInputTests {
    static func code(of body: () throws -> Void) -> KVError.Code? {
        do { try body(); return nil } catch let error as KVError { return error.code } catch { return nil }
    }

    /// The records of the newest segment: to show that a refused call wrote nothing.
    static func log(_ directory: String) throws -> [ParsedRecord] {
        try FileSurgery.records(inSegment: FileSurgery.lastSegmentPath(in: directory))
    }

    // MARK: - Keys and values

    @Test func emptyKeyIsRejectedByEveryCallAndNothingIsWritten() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory, configuration: TestStores.configuration())
            try store.set([1], forKey: [1])
            let before = try Self.log(directory)
            let empty: [UInt8] = []
            #expect(Self.code { try store.set([1, 2, 3], forKey: empty) } == .invalidArgument)
            #expect(Self.code { try store.set("value", forKey: "") } == .invalidArgument)
            #expect(Self.code { _ = try store.value(forKey: empty) } == .invalidArgument)
            #expect(Self.code { _ = try store.withValue(forKey: empty) { $0.count } } == .invalidArgument)
            #expect(Self.code { _ = try store.containsKey(empty) } == .invalidArgument)
            #expect(Self.code { _ = try store.removeValue(forKey: empty) } == .invalidArgument)
            #expect(Self.code { try store.write { $0.set([9], forKey: [2]); $0.set([1], forKey: empty) } } == .invalidArgument)
            #expect(Self.code { try store.write { $0.set([9], forKey: [2]); $0.removeValue(forKey: empty) } } == .invalidArgument)
            #expect(try Self.log(directory) == before, "a refused call wrote a record")
            #expect(try store.value(forKey: [2]) == nil, "part of a refused batch was applied")
            #expect(try store.statistics.keys == 1)
            try store.close()
        }
    }

    @Test func keysUpTo64KiBWorkAndLongerOnesAreRejected() throws {
        try withScratchDirectory { directory in
            let configuration = TestStores.configuration(compression: .lz4)
            var store = try Store(path: directory, configuration: configuration)
            let longest = [UInt8](repeating: 0x6B, count: Store.maximumKeyLength)
            let tooLong = longest + [0x6B]
            #expect(Store.maximumKeyLength == 64 * 1024)
            try store.set([1, 2, 3], forKey: longest)
            try store.write { $0.set([4], forKey: longest.dropLast() + [0x6C]) }
            #expect(try store.value(forKey: longest) == [1, 2, 3])
            #expect(try store.containsKey(longest))
            let before = try Self.log(directory)
            #expect(Self.code { try store.set([1], forKey: tooLong) } == .invalidArgument)
            #expect(Self.code { _ = try store.value(forKey: tooLong) } == .invalidArgument)
            #expect(Self.code { _ = try store.containsKey(tooLong) } == .invalidArgument)
            #expect(Self.code { _ = try store.removeValue(forKey: tooLong) } == .invalidArgument)
            #expect(Self.code { try store.write { $0.set([1], forKey: tooLong) } } == .invalidArgument)
            #expect(try Self.log(directory) == before)
            try store.close()
            // The longest key survives a reopen and a rebuild.
            store = try Store(path: directory, configuration: configuration)
            #expect(try store.value(forKey: longest) == [1, 2, 3])
            try store.close()
            try FileSurgery.remove(directory + "/" + FileNames.index)
            store = try Store(path: directory, configuration: configuration)
            #expect(try store.value(forKey: longest) == [1, 2, 3])
            #expect(try store.value(forKey: longest.dropLast() + [0x6C]) == [4])
            #expect(try store.removeValue(forKey: longest))
            try store.close()
        }
    }

    /// A read-only, never-touched anonymous mapping: a buffer of any length that costs no memory.
    final class HugeBuffer {
        let pointer: UnsafeMutableRawPointer
        let count: Int
        init(count: Int) throws {
            guard let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), p != MAP_FAILED else {
                throw FileSurgery.Failure(description: "mmap of \(count) bytes failed")
            }
            pointer = p
            self.count = count
        }
        var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: count) }
        deinit { munmap(pointer, count) }
    }

    @Test func oversizedValueIsRejectedBeforeAnythingIsWritten() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory, configuration: TestStores.configuration())
            try store.set([1], forKey: [1])
            let before = try Self.log(directory)
            #expect(Store.maximumValueLength >= 256 << 20)
            #expect(throws: Never.self) { try Store.checkValue(Store.maximumValueLength) }
            // maximumValueLength + 1 bytes of address space, never touched.
            let huge = try HugeBuffer(count: Store.maximumValueLength + 1)
            #expect(Self.code { try store.set(huge.bytes, forKey: [2]) } == .invalidArgument)
            #expect(Self.code { try store.write { $0.set([5], forKey: [3]); $0.set(huge.bytes, forKey: [2]) } } == .invalidArgument)
            #expect(try Self.log(directory) == before)
            #expect(try store.value(forKey: [3]) == nil)
            try store.close()
        }
    }

    /// A value that is not contiguous (a lazy collection) and too long is refused by its count,
    /// before its bytes are gathered into an array.
    @Test func oversizedLazyValueIsRejectedByItsCount() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory, configuration: TestStores.configuration())
            let lazy = CountingBytes(count: Store.maximumValueLength + 1)
            #expect(Self.code { try store.set(lazy, forKey: [2]) } == .invalidArgument)
            #expect(lazy.counter.reads.load(ordering: .relaxed) == 0, "the store read \(lazy.counter.reads.load(ordering: .relaxed)) bytes of a value it had to refuse")
            try store.close()
        }
    }

    // MARK: - Paths

    @Test func invalidPathsAndConfigurationsAreRejected() throws {
        try withScratchDirectory { directory in
            #expect(Self.code { _ = try Store(path: "") } == .invalidArgument)
            for size in [Limits.minimumSegmentSize - 1, Limits.maximumSegmentSize + 1] {
                #expect(Self.code { _ = try Store(path: directory + "/a", configuration: TestStores.configuration(segmentSize: size)) } == .invalidArgument)
            }
            #expect(Self.code { _ = try Store(path: directory + "/a", configuration: TestStores.configuration(durability: .periodic(.zero))) } == .invalidArgument)
            #expect(!FileSurgery.exists(directory + "/a"), "a refused configuration created the directory")
        }
    }

    @Test func pathThatIsAFileIsRefusedAndLeftAlone() throws {
        try withScratchDirectory { directory in
            let file = directory + "/file"
            let bytes = Array("not a store".utf8)
            try FileSurgery.write(bytes, to: file)
            #expect(Self.code { _ = try Store(path: file) } == .notAStore)
            #expect(try FileSurgery.read(file) == bytes)
            #expect(try FileSurgery.names(in: directory) == ["file"])
        }
    }

    @Test(arguments: [["notes.txt"], ["00000001.seg"], ["index"], ["00000001.hint", "LOCK"], ["subdirectory/x"]])
    func nonEmptyDirectoryThatIsNotAStoreIsRefusedUnchanged(_ names: [String]) throws {
        try withScratchDirectory { directory in
            let path = directory + "/foreign"
            for (i, name) in names.enumerated() {
                let file = path + "/" + name
                try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try FileSurgery.write(Array("contents \(i)".utf8), to: file)
            }
            let before = try Self.tree(path)
            do {
                let store = try Store(path: path)
                Issue.record("opened a directory holding \(names)")
                try store.close()
            } catch {
                #expect(isKVError(error, .notAStore), "\(error)")
            }
            #expect(try Self.tree(path) == before, "the refused directory was changed")
        }
    }

    /// Every file under `path` with its bytes.
    static func tree(_ path: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory)
            out[name] = isDirectory.boolValue ? [] : try FileSurgery.read(path + "/" + name)
        }
        return out
    }

    @Test func emptyDirectoryOrOneWithALeftoverLockBecomesAStore() throws {
        try withScratchDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory + "/empty", withIntermediateDirectories: true)
            var store = try Store(path: directory + "/empty")
            try store.set([1], forKey: [1])
            try store.close()
            try FileSurgery.write([], to: directory + "/lock-only/" + FileNames.lock, creatingDirectory: true)
            store = try Store(path: directory + "/lock-only")
            #expect(store.recoveryReport.indexTrust == .new)
            try store.close()
        }
    }

    // MARK: - Newer formats

    /// Sets the major version of a file with a header checksum (STORE: CRC of 0..<44 at 44;
    /// segment: CRC of 0..<28 at 28) and fixes the checksum, as a newer writer would have.
    static func withMajorVersion(_ major: UInt16, minor: UInt16 = 0, _ bytes: [UInt8], checksumAt: Int) -> [UInt8] {
        var out = bytes
        out[8] = UInt8(major & 0xFF); out[9] = UInt8(major >> 8)
        out[10] = UInt8(minor & 0xFF); out[11] = UInt8(minor >> 8)
        let crc = CRC32C.checksum(Array(out[0..<checksumAt]))
        for i in 0..<4 { out[checksumAt + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        return out
    }

    /// A closed store of two segments.
    static func makeStore(_ directory: String) throws -> [String: [UInt8]] {
        let store = try Store(path: directory, configuration: TestStores.configuration(segmentSize: 64 << 10))
        var i = 0
        while try FileSurgery.segmentNames(in: directory).count < 2 {
            try store.set([UInt8](repeating: UInt8(i % 256), count: 1_000), forKey: Array("k\(i)".utf8))
            i += 1
        }
        try store.close()
        return try FileSurgery.snapshot(directory)
    }

    @Test func storeOfANewerFormatIsRefusedUnchanged() throws {
        try withScratchDirectory { directory in
            var files = try Self.makeStore(directory + "/base")
            let work = directory + "/work"
            files[FileNames.manifest] = Self.withMajorVersion(FormatVersion.major + 1, files[FileNames.manifest]!, checksumAt: 44)
            try FileSurgery.restore(files, into: work)
            #expect(Self.code { _ = try Store(path: work) } == .incompatibleFormat)
            #expect(try FileSurgery.snapshot(work) == files)
            // A newer minor version of the same major is read.
            files = try FileSurgery.snapshot(directory + "/base")
            files[FileNames.manifest] = Self.withMajorVersion(FormatVersion.major, minor: FormatVersion.minor + 3, files[FileNames.manifest]!, checksumAt: 44)
            try FileSurgery.restore(files, into: work)
            let store = try Store(path: work)
            #expect(try store.value(forKey: Array("k0".utf8)) == [UInt8](repeating: 0, count: 1_000))
            try store.close()
        }
    }

    @Test(arguments: [1, 2])
    func segmentOfANewerFormatIsRefusedUnchanged(_ segmentID: UInt32) throws {
        try withScratchDirectory { directory in
            let original = try Self.makeStore(directory + "/base")
            var files = original
            let name = FileNames.segment(segmentID)
            files[name] = Self.withMajorVersion(FormatVersion.major + 1, files[name]!, checksumAt: 28)
            let work = directory + "/work"
            try FileSurgery.restore(files, into: work)
            #expect(Self.code { _ = try Store(path: work) } == .incompatibleFormat)
            #expect(try FileSurgery.snapshot(work) == files, "refusing a newer segment changed the store")
            // The refusal released the lock: with the segment back, the store opens.
            try FileSurgery.write(original[name]!, to: work + "/" + name)
            let store = try Store(path: work)
            #expect(store.recoveryReport.indexTrust == .clean)
            try store.close()
        }
    }

    @Test func hintOrIndexOfANewerFormatIsIgnoredAndRebuilt() throws {
        try withScratchDirectory { directory in
            var files = try Self.makeStore(directory + "/base")
            let hint = FileNames.hint(1)
            var hintBytes = try #require(files[hint])
            hintBytes[8] = UInt8(FormatVersion.major + 1)
            let bodyEnd = hintBytes.count - 8
            let crc = CRC32C.checksum(Array(hintBytes[0..<bodyEnd]))
            for i in 0..<4 { hintBytes[bodyEnd + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
            files[hint] = hintBytes
            files[FileNames.index]![8] = UInt8(FormatVersion.major + 1)
            let work = directory + "/work"
            try FileSurgery.restore(files, into: work)
            let store = try Store(path: work)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            #expect(try store.value(forKey: Array("k0".utf8)) == [UInt8](repeating: 0, count: 1_000))
            #expect(try store.statistics.keys > 60)
            try store.close()
        }
    }

    // MARK: - Locks

    @Test func secondOpenInTheSameProcessIsLocked() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory)
            do {
                let second = try Store(path: directory)
                Issue.record("a second Store opened the same directory")
                try second.close()
            } catch let error as KVError {
                #expect(error.code == .locked)
                #expect(error.path == directory)
                #expect(error.message.contains("already open in this process"), "\(error)")
            }
            try store.set([1], forKey: [1])
            try store.close()
            let again = try Store(path: directory)
            #expect(try again.value(forKey: [1]) == [1])
            try again.close()
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/flock")))
    func storeLockedByAnotherProcessIsRefusedAtOnce() throws {
        try withScratchDirectory { directory in
            try Store(path: directory).close()
            // `flock -x LOCK cat`: holds the lock while cat copies stdin to stdout.
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            holder.arguments = ["-x", directory + "/" + FileNames.lock, "cat"]
            let input = Pipe(), output = Pipe()
            holder.standardInput = input
            holder.standardOutput = output
            try holder.run()
            defer { if holder.isRunning { holder.terminate() } }
            // Once cat echoes a line, flock holds the lock.
            input.fileHandleForWriting.write(Data("held\n".utf8))
            var echoed = Data()
            while !echoed.contains(UInt8(ascii: "\n")) {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                echoed.append(chunk)
            }
            #expect(String(decoding: echoed, as: UTF8.self) == "held\n")

            #expect(Self.code { _ = try Store(path: directory) } == .locked)
            try input.fileHandleForWriting.close()
            holder.waitUntilExit()
            let store = try Store(path: directory)
            try store.close()
        }
    }

    // MARK: - Closed

    @Test func everyCallAfterCloseThrowsClosed() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory)
            try store.set([1], forKey: [1])
            try store.close()
            try store.close()  // idempotent
            #expect(Self.code { _ = try store.value(forKey: [1]) } == .closed)
            #expect(Self.code { _ = try store.withValue(forKey: [1]) { $0.count } } == .closed)
            #expect(Self.code { _ = try store.containsKey([1]) } == .closed)
            #expect(Self.code { try store.set([2], forKey: [1]) } == .closed)
            #expect(Self.code { _ = try store.removeValue(forKey: [1]) } == .closed)
            #expect(Self.code { try store.write { $0.set([2], forKey: [1]) } } == .closed)
            #expect(Self.code { try store.sync() } == .closed)
            #expect(Self.code { _ = try store.entries() } == .closed)
            #expect(Self.code { _ = try store.keys() } == .closed)
            #expect(Self.code { _ = try store.statistics } == .closed)
            #expect(Self.code { _ = try store.string(forKey: "a") } == .closed)
        }
    }

    @Test func cursorOfAClosedStoreThrowsClosed() throws {
        try withScratchDirectory { directory in
            let store = try Store(path: directory)
            for i in 0..<10 { try store.set([UInt8(i)], forKey: [UInt8(i)]) }
            var cursor = try store.entries()
            _ = try cursor.next()
            try store.close()
            do {
                while try cursor.next() != nil {}
                Issue.record("a cursor kept reading a closed store")
            } catch {
                #expect(isKVError(error, .closed), "\(error)")
            }
        }
    }

    // MARK: - A failing disk

    /// Fails the calls `matching` on files of `directory` with `errno` while `armed` is set.
    final class Fault: Sendable {
        let armed = Atomic<Bool>(false)
        let hits = Atomic<Int>(0)
        let call: SystemCall
        let errno: Int32
        let pathSuffixes: [String]

        init(_ call: SystemCall, errno: Int32, pathSuffixes: [String] = [""]) {
            self.call = call
            self.errno = errno
            self.pathSuffixes = pathSuffixes
        }

        func injector(_ call: SystemCall, _ path: String?) -> Int32? {
            guard armed.load(ordering: .acquiring), call == self.call, let path,
                  pathSuffixes.contains(where: { path.hasSuffix($0) }) else { return nil }
            hits.add(1, ordering: .relaxed)
            return errno
        }
    }

    @Test(arguments: [Store.Durability.sync, .process])
    func failedSyncIsReportedAndNeverRetriedIntoASuccess(_ durability: Store.Durability) throws {
        try withScratchDirectory { directory in
            let fault = Fault(.fdatasync, errno: EIO, pathSuffixes: [FileNames.segmentSuffix, FileNames.segmentSuffix + FileNames.temporarySuffix])
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                let configuration = TestStores.configuration(durability: durability)
                var store = try Store(path: directory, configuration: configuration)
                for i in 0..<20 { try store.set([UInt8(i)], forKey: Array("before-\(i)".utf8)) }
                try store.sync()

                // One failing fdatasync, then the disk "recovers": a retry would now succeed.
                fault.armed.store(true, ordering: .releasing)
                let first: KVError?
                if case .sync = durability {
                    do { try store.set([1], forKey: Array("failing".utf8)); first = nil } catch let error as KVError { first = error }
                } else {
                    try store.set([1], forKey: Array("failing".utf8))
                    do { try store.sync(); first = nil } catch let error as KVError { first = error }
                }
                fault.armed.store(false, ordering: .releasing)
                #expect(fault.hits.load(ordering: .relaxed) >= 1)
                #expect(first?.code == .io && first?.errno == EIO, "\(String(describing: first))")
                #expect(first?.path?.hasPrefix(directory) == true)

                // Every later write and sync reports the failure: nothing is retried into a success.
                #expect(Self.code { try store.sync() } == .io)
                #expect(Self.code { try store.set([2], forKey: Array("after".utf8)) } == .io)
                #expect(Self.code { _ = try store.removeValue(forKey: Array("before-0".utf8)) } == .io)
                #expect(Self.code { try store.write { $0.set([3], forKey: Array("after".utf8)) } } == .io)
                #expect(Self.code { try store.sync() } == .io)
                // Reads still work, and (as Durability.md documents) return the write whose sync
                // failed until the store is reopened: its outcome is unknown, not undone.
                #expect(try store.value(forKey: Array("before-3".utf8)) == [3])
                #expect(try store.value(forKey: Array("failing".utf8)) == [1])
                // Close reports the failure too, but releases the store.
                #expect(Self.code { try store.close() } == .io)

                store = try Store(path: directory, configuration: configuration)
                for i in 0..<20 { #expect(try store.value(forKey: Array("before-\(i)".utf8)) == [UInt8(i)]) }
                #expect(try store.value(forKey: Array("after".utf8)) == nil)
                try store.set([4], forKey: Array("after-reopen".utf8))
                try store.sync()
                try store.close()
            }
        }
    }

    @Test func noSpaceWhenRollingASegmentIsAnErrorAndNothingIsLost() throws {
        try withScratchDirectory { directory in
            let fault = Fault(.fallocate, errno: ENOSPC, pathSuffixes: [FileNames.segmentSuffix, FileNames.segmentSuffix + FileNames.temporarySuffix])
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                let configuration = TestStores.configuration(segmentSize: 64 << 10)
                var store = try Store(path: directory, configuration: configuration)
                let value = [UInt8](repeating: 0x5A, count: 1_000)
                var written = 0
                fault.armed.store(true, ordering: .releasing)
                var failure: KVError? = nil
                while failure == nil && written < 200 {
                    do {
                        try store.set(value, forKey: Array("k\(written)".utf8))
                        written += 1
                    } catch let error as KVError {
                        failure = error
                    }
                }
                #expect(failure?.code == .io && failure?.errno == ENOSPC, "\(String(describing: failure))")
                #expect(written > 30 && written < 70, "the failure came after \(written) writes, not at the first roll")
                #expect(try FileSurgery.segmentNames(in: directory) == [FileNames.segment(1)])
                #expect(try FileSurgery.names(in: directory).filter { $0.hasSuffix(FileNames.temporarySuffix) }.isEmpty)
                for i in 0..<written { #expect(try store.value(forKey: Array("k\(i)".utf8)) == value) }

                // With space again, writing continues (the next write rolls).
                fault.armed.store(false, ordering: .releasing)
                for i in written..<(written + 100) { try store.set(value, forKey: Array("k\(i)".utf8)) }
                try store.close()
                store = try Store(path: directory, configuration: configuration)
                let lost = try (0..<(written + 100)).filter { try store.value(forKey: Array("k\($0)".utf8)) != value }
                #expect(lost.isEmpty, "\(lost.count) keys lost")
                try store.close()
            }
        }
    }

    @Test func noSpaceWhenGrowingTheIndexIsAnErrorAndNothingIsLost() throws {
        try withScratchDirectory { directory in
            let fault = Fault(.fallocate, errno: ENOSPC, pathSuffixes: [FileNames.index + FileNames.temporarySuffix])
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                let configuration = TestStores.configuration()
                var store = try Store(path: directory, configuration: configuration)
                fault.armed.store(true, ordering: .releasing)
                var written = 0
                var failure: KVError? = nil
                while failure == nil && written < 5_000 {
                    do {
                        try store.set([UInt8(written % 256)], forKey: Array("k\(written)".utf8))
                        written += 1
                    } catch let error as KVError {
                        failure = error
                    }
                }
                #expect(failure?.code == .io && failure?.errno == ENOSPC, "\(String(describing: failure))")
                for i in 0..<written { #expect(try store.value(forKey: Array("k\(i)".utf8)) == [UInt8(i % 256)]) }
                fault.armed.store(false, ordering: .releasing)
                for i in written..<(written + 2_000) { try store.set([UInt8(i % 256)], forKey: Array("k\(i)".utf8)) }
                try store.close()
                store = try Store(path: directory, configuration: configuration)
                let lost = try (0..<(written + 2_000)).filter { try store.value(forKey: Array("k\($0)".utf8)) != [UInt8($0 % 256)] }
                #expect(lost.isEmpty, "\(lost.count) keys lost")
                try store.close()
            }
        }
    }

    // MARK: - Error messages

    @Test func errorMessagesNeverContainKeyOrValueBytes() throws {
        let secretKey = Array("SECRET-KEY-4f1d".utf8)
        let secretValue = Array("SECRET-VALUE-9c2e".utf8) + [UInt8](repeating: 0x77, count: 100)
        var errors: [(String, any Error)] = []
        func collect(_ what: String, _ body: () throws -> Void) {
            do { try body(); Issue.record("\(what) did not throw") } catch { errors.append((what, error)) }
        }
        try withScratchDirectory { directory in
            let fault = Fault(.fallocate, errno: ENOSPC, pathSuffixes: [FileNames.segmentSuffix + FileNames.temporarySuffix])
            try withSystemHooks(directory: directory, injector: { fault.injector($0, $1) }) {
                var store = try Store(path: directory, configuration: TestStores.configuration(segmentSize: 64 << 10))
                let longKey = Array(repeatElement(secretKey, count: Store.maximumKeyLength / secretKey.count + 1).joined())
                collect("too long key") { try store.set(secretValue, forKey: longKey) }
                collect("empty key in a batch") { try store.write { $0.set(secretValue, forKey: secretKey); $0.set(secretValue, forKey: []) } }
                let huge = try HugeBuffer(count: Store.maximumValueLength + 1)
                secretValue.withUnsafeBytes { huge.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                collect("too long value") { try store.set(huge.bytes, forKey: secretKey) }
                // No space for the next segment.
                fault.armed.store(true, ordering: .releasing)
                collect("no space") { for i in 0..<1_000 { try store.set(secretValue, forKey: secretKey + Array("\(i)".utf8)) } }
                fault.armed.store(false, ordering: .releasing)
                // A corrupt record of the secret key.
                try store.set(secretValue, forKey: secretKey)
                try store.close()
                let segment = try FileSurgery.lastSegmentPath(in: directory)
                let record = try #require(try FileSurgery.records(inSegment: segment).last { $0.key == secretKey })
                try FileSurgery.xor(segment, at: record.offset + RecordHeader.size + secretKey.count + 20, with: 0x01)
                store = try Store(path: directory)
                collect("corrupt record") { _ = try store.value(forKey: secretKey) }
                try store.close()
                collect("closed") { try store.set(secretValue, forKey: secretKey) }
            }
        }
        let forbidden = ["SECRET", String(decoding: secretKey, as: UTF8.self), String(decoding: secretValue.prefix(17), as: UTF8.self),
                         secretKey.map { String(format: "%02x", $0) }.joined(), secretKey.map { String(format: "%02X", $0) }.joined(),
                         "\(secretKey)", "\(Array(secretValue.prefix(17)))"]
        #expect(errors.count == 6)
        for (what, error) in errors {
            for text in ["\(error)", String(reflecting: error), error.localizedDescription, (error as? KVError)?.message ?? ""] {
                for word in forbidden {
                    #expect(!text.contains(word), "the \(what) error shows key or value bytes: \(text.prefix(300))")
                }
            }
        }
    }
}

/// A collection of zeros of any length that counts how many of its bytes are read.
struct CountingBytes: Collection, Sendable {
    final class Counter: Sendable { let reads = Atomic<Int>(0) }
    let count: Int
    let counter = Counter()
    var startIndex: Int { 0 }
    var endIndex: Int { count }
    func index(after i: Int) -> Int { i + 1 }
    subscript(position: Int) -> UInt8 {
        counter.reads.add(1, ordering: .relaxed)
        return 0
    }
}

extension FileSurgery {
    static func write(_ bytes: [UInt8], to path: String, creatingDirectory: Bool) throws {
        if creatingDirectory {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        }
        try write(bytes, to: path)
    }
}
