#if canImport(Glibc)
import Glibc
#endif

/// Where a store's index may live in shared memory while a writer has it open (FORMAT.md §4.4):
/// files named `kvstore-<storeID>-<device>-<inode>-<random>.index` in a memory file system
/// (`/dev/shm`), reached through the symbolic link `index` in the store directory.
///
/// Why: every put writes a random page of the index. A file-backed mapping's dirty pages are
/// written back while the store runs, and the next write to each of them takes a write fault;
/// once the index outgrows the kernel's dirty background threshold that is most of a put
/// (measured: 224 k puts/s over 20 M keys into a 3.1 GB index in the store directory, 947 k/s with
/// the same index in `/dev/shm`, same build, same hour). A memory file system has no writeback.
///
/// The name carries the store directory's device and inode, not only the store's id: a copy of a
/// store directory (`cp -a` of a store whose writer died) holds a link to the original's file, and
/// must rebuild its own index rather than write into another directory's.
struct IndexResidence: Sendable {
    /// The memory file system's directory.
    let directory: String
    /// `kvstore-<storeID>-<device>-<inode>-`: how this store's files there begin.
    let prefix: String
    /// `-<device>-<inode>-`: what every file made for this store directory holds, whatever
    /// store it held then (a creation interrupted before `STORE` was in place leaves a table
    /// of a store id that the next creation does not reuse).
    let directoryTag: String
    static let suffix = ".index"
    /// An index smaller than this stays in the store directory under ``Store/IndexPlacement/automatic``:
    /// its dirty pages are a small part of what the kernel lets stay dirty.
    static let automaticMinimum = 64 << 20
    /// Room left free in the memory file system beside an index placed automatically.
    static let automaticHeadroom = 64 << 20

    /// `nil` when the store directory's identity cannot be read.
    init?(storeDirectory: String, storeID: UInt64, sharedMemoryDirectory: String) {
        guard let identity = Sys.identity(ofPath: storeDirectory) else { return nil }
        directory = sharedMemoryDirectory
        directoryTag = "-" + Self.hex(identity.device) + "-" + Self.hex(identity.inode) + "-"
        prefix = "kvstore-" + Self.hex(storeID) + directoryTag
    }

    private static func hex(_ value: UInt64) -> String { String(value, radix: 16) }

    /// A new, unused name for an index file.
    func newPath() -> String {
        directory + "/" + prefix + Self.hex(UInt64.random(in: 1...UInt64.max)) + Self.suffix
    }

    /// Whether `target` (what the link `index` points at) is one of this store directory's files.
    func owns(_ target: String) -> Bool {
        let head = directory + "/" + prefix
        guard target.hasPrefix(head), target.hasSuffix(Self.suffix) else { return false }
        let middle = target.dropFirst(head.count).dropLast(Self.suffix.count)
        return !middle.isEmpty && middle.allSatisfy(\.isHexDigit)
    }

    /// Whether a table of `length` bytes goes into shared memory under `placement`.
    func accepts(length: Int, placement: Store.IndexPlacement) -> Bool {
        let needed: Int
        switch placement {
        case .file:
            return false
        case .sharedMemory:
            needed = length
        case .automatic:
            let physical = Sys.physicalMemory()
            guard length >= Self.automaticMinimum, physical == 0 || length <= physical / 4 else { return false }
            needed = length + Self.automaticHeadroom
        }
        guard let space = Sys.memoryFileSystemSpace(directory), space.isMemory else { return false }
        return space.available >= Int64(needed)
    }

    /// Removes this store directory's files in shared memory other than `keeping`: those a writer
    /// that died left between creating a table and renaming its link into place, of this store or
    /// of an earlier one in the same directory. Only the writer, which holds the directory's lock,
    /// calls this. (A directory removed and another given its inode number: the files tagged with
    /// it belong to a directory that is gone.)
    func sweep(keeping: String?) {
        guard let names = try? Sys.listDirectory(directory) else { return }
        for name in names where name.hasPrefix("kvstore-") && name.hasSuffix(Self.suffix) {
            let fields = name.dropFirst("kvstore-".count).dropLast(Self.suffix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard fields.count == 4, fields.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isHexDigit) }),
                  "-" + fields[1] + "-" + fields[2] + "-" == directoryTag else { continue }
            let path = directory + "/" + name
            if path != keeping { _ = try? Sys.unlink(path) }
        }
    }
}

/// Moving a table between shared memory and the store directory: byte for byte, so the header
/// (trust, covered position, counts) moves with it.
extension HashIndex {
    /// The file the store was opened with, kept under another name while its table is in shared
    /// memory, so that a clean close writes back only the pages changed since (``DirtyPages``).
    /// It ends in `.tmp`: a writer that dies leaves it stale, and the next open removes it.
    static func basePath(in directory: String) -> String {
        directory + "/" + FileNames.index + ".base" + FileNames.temporarySuffix
    }

    /// Copies this table into a new file that then replaces `directory/index`: in shared memory
    /// when `residence` is given (a writer's open), else a regular file in the store directory,
    /// synced before the rename (a clean close, or ``Store/IndexPlacement/file``).
    /// Returns the new table, mapped, when `mapped`; `self` when shared memory has no room.
    ///
    /// Moving a regular file into shared memory keeps that file as ``basePath(in:)`` and the new
    /// table tracks the pages it changes.
    @discardableResult
    func moved(into residence: IndexResidence?, directory: String, mapped: Bool) throws(KVError) -> HashIndex? {
        let path = directory + "/" + FileNames.index
        let temporary = path + FileNames.temporarySuffix
        let base = Self.basePath(in: directory)
        let length = file.length
        let fd: Int32
        let sharedMemory: String?
        if let residence {
            // Shared memory is an optimization: anything it refuses leaves the table where it is.
            guard let (made, target) = HashIndex.makeSharedMemoryFile(path: temporary, length: length, residence: residence, allocate: false) else {
                return self
            }
            (fd, sharedMemory) = (made, target)
        } else {
            (fd, sharedMemory) = try HashIndex.makeFile(path: temporary, length: length, residence: nil)
        }
        var owned = true
        defer { if owned { Sys.close(fd) } }
        func abandon() {
            _ = try? Sys.unlink(temporary)
            if let sharedMemory { _ = try? Sys.unlink(sharedMemory) }
        }
        do {
            if sharedMemoryPath == nil {
                try copyFile(to: fd, path: temporary)
            } else {
                try copyPages(to: fd, path: temporary, first: 0, count: (length + IndexHeader.pageSize - 1) / IndexHeader.pageSize)
            }
        } catch {
            abandon()
            // No room after all (another process took it): the table stays in the directory.
            if residence != nil { return self }
            throw error
        }
        if sharedMemory == nil {
            do { try Sys.fdatasync(fd) } catch {
                abandon()
                throw error.kvError("fdatasync", path: temporary)
            }
        }
        // The file being left keeps its bytes under the base name (a second name of the same
        // inode), when it is a regular file and the table goes into shared memory.
        _ = try? Sys.unlink(base)
        let keepsBase = sharedMemory != nil && sharedMemoryPath == nil && (try? Sys.link(path, base)) != nil
        var moved: HashIndex? = nil
        if mapped {
            let mapping: MappedFile
            do { mapping = try MappedFile(fd: fd, path: sharedMemory ?? path, length: length, writable: true, ownsDescriptor: true) } catch {
                abandon()
                if keepsBase { _ = try? Sys.unlink(base) }
                if residence != nil { return self }  // could not be mapped: stays where it is
                throw error
            }
            owned = false
            moved = HashIndex(file: mapping, capacity: capacity, sharedMemoryPath: sharedMemory, tracksDirtyPages: keepsBase)
            moved?.adviseForProbes(prefetch: false)
        }
        try HashIndex.replace(path, with: temporary, sharedMemoryPath: sharedMemoryPath, marking: sharedMemoryPath != nil ? file.fd : nil)
        if sharedMemory == nil {
            do { try Sys.syncDirectory(directory) } catch { throw error.kvError("fsync", path: directory) }
        }
        return moved
    }

    /// Writes this table in shared memory back into the store directory at a clean close: only
    /// the pages changed since open, into the file the store was opened with, when that file was
    /// kept and this table is the one copied from it (no growth since); all of it otherwise.
    func checkpoint(directory: String) throws(KVError) {
        let base = Self.basePath(in: directory)
        guard let dirtyPages, let fd = try? Sys.open(base, O_RDWR | O_NOFOLLOW) else {
            _ = try? Sys.unlink(base)
            try moved(into: nil, directory: directory, mapped: false)
            return
        }
        var closed = false
        defer { if !closed { Sys.close(fd) } }
        guard (try? Sys.fileSize(fd)) == Int64(file.length) else {
            _ = try? Sys.unlink(base)
            try moved(into: nil, directory: directory, mapped: false)
            return
        }
        // The pages first and the header last, and the header keeps the file's `replaced` mark
        // (set when the table moved into shared memory): a reader that still maps this file from
        // before the writer opened must not take it for the index while its pages are rewritten.
        try dirtyPages.forEachRun { (first, count) throws(KVError) in try copyPages(to: fd, path: base, first: first, count: count) }
        let header = UnsafeMutableRawPointer.allocate(byteCount: IndexHeader.pageSize, alignment: 8)
        defer { header.deallocate() }
        header.copyMemory(from: file.base, byteCount: IndexHeader.pageSize)
        var mark: UInt64 = 0
        if (try? Sys.pread(fd, &mark, 8, Int64(IndexHeader.replaced))) != 8 { mark = 0 }
        header.storeBytes(of: mark, toByteOffset: IndexHeader.replaced, as: UInt64.self)
        do { try Sys.pwrite(fd, header, IndexHeader.pageSize, 0) } catch { throw error.kvError("pwrite", path: base, offset: 0) }
        do { try Sys.fdatasync(fd) } catch { throw error.kvError("fdatasync", path: base) }
        try HashIndex.replace(directory + "/" + FileNames.index, with: base, sharedMemoryPath: sharedMemoryPath, marking: sharedMemoryPath != nil ? file.fd : nil)
        // It is the index now: its mark goes (a reader that met it kept reading it meanwhile).
        var zero: UInt64 = 0
        _ = try? Sys.pwrite(fd, &zero, 8, Int64(IndexHeader.replaced))
        assert(fileMatches(fd), "a page changed in shared memory was not marked dirty")
        Sys.close(fd)
        closed = true
        do { try Sys.syncDirectory(directory) } catch { throw error.kvError("fsync", path: directory) }
    }

    /// Pages `first ..< first + count` of this table written at the same offsets of `fd`.
    private func copyPages(to fd: Int32, path: String, first: Int, count: Int) throws(KVError) {
        var offset = first * IndexHeader.pageSize
        let end = min(file.length, (first + count) * IndexHeader.pageSize)
        while offset < end {
            let n = min(Self.moveChunk, end - offset)
            do { try Sys.pwrite(fd, UnsafeRawPointer(file.base + offset), n, Int64(offset)) } catch {
                throw error.kvError("pwrite", path: path, offset: Int64(offset))
            }
            offset += n
        }
    }

    /// The whole of this table's file copied into `fd` with `pread`, not through the mapping: the
    /// mapping is advised for random access, and a file not in the page cache would then be read
    /// 4 KiB at a time (28 s for 3.1 GB here, against the disk's sequential speed with `pread`).
    private func copyFile(to fd: Int32, path: String) throws(KVError) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.moveChunk, alignment: 4096)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < file.length {
            let wanted = min(Self.moveChunk, file.length - offset)
            let n: Int
            do { n = try Sys.pread(file.fd, buffer, wanted, Int64(offset)) } catch {
                throw error.kvError("pread", path: file.path, offset: Int64(offset))
            }
            guard n == wanted else { throw KVError(.io, "the index file ended while it was copied", path: file.path, offset: Int64(offset + n)) }
            do { try Sys.pwrite(fd, buffer, n, Int64(offset)) } catch {
                throw error.kvError("pwrite", path: path, offset: Int64(offset))
            }
            offset += n
        }
    }

    /// Debug builds: whether `fd` now holds exactly this table's bytes (but for the `replaced`
    /// word, which marks this table and not the file that replaced it).
    private func fileMatches(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: Self.moveChunk)
        var offset = 0
        while offset < file.length {
            let n = min(buffer.count, file.length - offset)
            let read = buffer.withUnsafeMutableBytes { raw in (try? Sys.pread(fd, raw.baseAddress!, n, Int64(offset))) ?? -1 }
            guard read == n else { return false }
            if offset == 0 {
                buffer.withUnsafeMutableBytes { raw in
                    (file.base + IndexHeader.replaced).withMemoryRebound(to: UInt8.self, capacity: 8) { mark in
                        for i in 0..<8 { raw[IndexHeader.replaced + i] = mark[i] }
                    }
                }
            }
            guard buffer.withUnsafeBytes({ memcmp($0.baseAddress!, file.base + offset, n) == 0 }) else { return false }
            offset += n
        }
        return true
    }

    private static let moveChunk = 8 << 20
}

/// Which 4 KiB pages of a table in shared memory the writer has changed since it was copied from
/// the store's file: one bit per page (96 KiB for the 3 GB table of 100 M keys), set on every slot
/// write. Only the writer marks, and only the close, after the writer is gone, reads it.
final class DirtyPages: @unchecked Sendable {
    // @unchecked: one writer thread marks; the close reads after that thread let go of the table.
    let pages: Int
    private let words: UnsafeMutablePointer<UInt64>
    private let wordCount: Int

    init(length: Int) {
        pages = (length + IndexHeader.pageSize - 1) / IndexHeader.pageSize
        wordCount = (pages + 63) / 64
        words = .allocate(capacity: wordCount)
        words.initialize(repeating: 0, count: wordCount)
    }

    deinit { words.deallocate() }

    /// A 16-byte slot never straddles two pages: slots start at 4096 and pages are 256 slots.
    @inline(__always) func markSlot(_ slot: Int) {
        let page = (IndexHeader.pageSize + slot &* HashIndex.slotSize) >> 12
        words[page >> 6] |= 1 << UInt64(page & 63)
    }

    /// Calls `body` with each run of consecutive dirty pages, in file order.
    func forEachRun(_ body: (_ first: Int, _ count: Int) throws(KVError) -> Void) throws(KVError) {
        var page = 0
        while page < pages {
            guard words[page >> 6] & (1 << UInt64(page & 63)) != 0 else {
                // Skip a clean word at once.
                if page & 63 == 0 && words[page >> 6] == 0 { page += 64 } else { page += 1 }
                continue
            }
            let first = page
            while page < pages && words[page >> 6] & (1 << UInt64(page & 63)) != 0 { page += 1 }
            try body(first, page - first)
        }
    }
}
