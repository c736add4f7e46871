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
        prefix = "kvstore-" + Self.hex(storeID) + "-" + Self.hex(identity.device) + "-" + Self.hex(identity.inode) + "-"
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
    /// that died left between creating a table and renaming its link into place. Only the writer,
    /// which holds the store's lock, calls this.
    func sweep(keeping: String?) {
        guard let names = try? Sys.listDirectory(directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            let path = directory + "/" + name
            if path != keeping && owns(path) { _ = try? Sys.unlink(path) }
        }
    }
}

/// Moving a table between shared memory and the store directory: byte for byte, so the header
/// (trust, covered position, counts) moves with it.
extension HashIndex {
    /// Copies this table into a new file that then replaces `directory/index`: in shared memory
    /// when `residence` is given (a writer's open), else a regular file in the store directory,
    /// synced before the rename (a clean close, or ``Store/IndexPlacement/file``).
    /// Returns the new table, mapped, when `mapped`; `self` when shared memory has no room.
    @discardableResult
    func moved(into residence: IndexResidence?, directory: String, mapped: Bool) throws(KVError) -> HashIndex? {
        let path = directory + "/" + FileNames.index
        let temporary = path + FileNames.temporarySuffix
        let length = file.length
        let (fd, sharedMemory) = try HashIndex.makeFile(path: temporary, length: length, residence: residence)
        var owned = true
        defer { if owned { Sys.close(fd) } }
        let written = temporary
        func abandon() {
            _ = try? Sys.unlink(written)
            if let sharedMemory { _ = try? Sys.unlink(sharedMemory) }
        }
        if residence != nil && sharedMemory == nil {
            abandon()
            return self
        }
        var offset = 0
        while offset < length {
            let count = min(Self.moveChunk, length - offset)
            do { try Sys.pwrite(fd, UnsafeRawPointer(file.base + offset), count, Int64(offset)) } catch {
                abandon()
                throw error.kvError("pwrite", path: temporary, offset: Int64(offset))
            }
            offset += count
        }
        if sharedMemory == nil {
            do { try Sys.fdatasync(fd) } catch {
                abandon()
                throw error.kvError("fdatasync", path: temporary)
            }
        }
        var moved: HashIndex? = nil
        if mapped {
            let mapping: MappedFile
            do { mapping = try MappedFile(fd: fd, path: sharedMemory ?? path, length: length, writable: true, ownsDescriptor: true) } catch {
                abandon()
                throw error
            }
            owned = false
            moved = HashIndex(file: mapping, capacity: capacity, sharedMemoryPath: sharedMemory)
            moved?.adviseForProbes(prefetch: false)
        }
        try HashIndex.replace(path, with: temporary, sharedMemoryPath: sharedMemoryPath)
        if sharedMemory == nil {
            do { try Sys.syncDirectory(directory) } catch { throw error.kvError("fsync", path: directory) }
        }
        return moved
    }

    private static let moveChunk = 8 << 20
}
