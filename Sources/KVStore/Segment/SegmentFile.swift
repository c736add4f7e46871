#if canImport(Glibc)
import Glibc
#endif

/// A segment file of the store: its id and path. Shared by readers (which `pread` it) and the
/// writer. It holds no descriptor of its own: reads go through the store's ``DescriptorCache``,
/// so a store of any number of segments stays within a bounded number of open files.
final class SegmentFile: Sendable {
    let id: UInt32
    let path: String
    let descriptors: DescriptorCache
    /// Where the segment is in its life (``SegmentState``).
    let lifecycle: SegmentLifecycle
    /// Gets it served, by stripe of reading threads: its heat, for the ``MappingManager``.
    let reads = ReadCounter()

    init(id: UInt32, path: String, descriptors: DescriptorCache, state: SegmentState = .sealed) {
        self.id = id
        self.path = path
        self.descriptors = descriptors
        self.lifecycle = SegmentLifecycle(state)
    }

    var state: SegmentState { lifecycle.state }

    static let foreignStoreMessage = "segment belongs to another store"

    /// A file read outside any store (`kvtool dump`): its own cache of one, the descriptor pinned.
    static func standalone(path: String) throws(KVError) -> SegmentFile {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch { throw error.kvError("open", path: path) }
        let file = SegmentFile(id: 0, path: path, descriptors: DescriptorCache(limit: 1))
        file.descriptors.pin(SegmentDescriptor(fd: fd), for: 0)
        return file
    }

    /// Opens an existing segment and validates its header.
    static func open(directory: String, id: UInt32, storeID: UInt64, descriptors: DescriptorCache) throws(KVError) -> SegmentFile {
        let file = SegmentFile(id: id, path: directory + "/" + FileNames.segment(id), descriptors: descriptors)
        var header = [UInt8](repeating: 0, count: SegmentHeader.size)
        let n = try header.withMutableBytes { raw throws(KVError) in try file.read(into: raw.baseAddress!, count: raw.count, at: 0) }
        let decoded = try Array(header.prefix(n)).withBytes { raw throws(KVError) in try SegmentHeader.decode(raw, path: file.path) }
        guard decoded.segmentID == id else {
            throw .corruption("segment header names segment \(decoded.segmentID)", path: file.path, offset: 12)
        }
        guard decoded.storeID == storeID else {
            throw .corruption(foreignStoreMessage, path: file.path, offset: 16)
        }
        return file
    }

    /// Opens the file for writing: the descriptor the active segment maps and appends through. It
    /// is pinned in the cache, so readers and syncs use it too, until ``unpin()``.
    func openForWriting() throws(KVError) -> SegmentDescriptor {
        try unshareIfLinked()
        let fd: Int32
        do { fd = try Sys.open(path, O_RDWR) } catch { throw error.kvError("open", path: path) }
        let descriptor = SegmentDescriptor(fd: fd)
        descriptors.pin(descriptor, for: id)
        return descriptor
    }

    /// A segment file with more than one name shares its bytes with another directory (a backup
    /// hard-links sealed segments, FORMAT.md §14): before anything writes into it (recovery
    /// continues it, wiping a torn tail), it becomes a file of its own, copied, synced and renamed
    /// over its name, so that no write of this store ever reaches the other directory's file.
    private func unshareIfLinked() throws(KVError) {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch { throw error.kvError("open", path: path) }
        let links: Int, size: Int64
        do {
            links = try Sys.linkCount(fd)
            size = try Sys.fileSize(fd)
        } catch {
            Sys.close(fd)
            throw error.kvError("fstat", path: path)
        }
        Sys.close(fd)
        guard links > 1 else { return }
        let temporary = path + FileNames.temporarySuffix
        _ = try? Sys.unlink(temporary)
        var copier = FileCopier()
        try copier.copy(path, to: temporary, length: size)
        do { try Sys.rename(temporary, path) } catch { throw error.kvError("rename", path: path) }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        do { try Sys.syncDirectory(directory.isEmpty ? "." : directory) } catch { throw error.kvError("fsync", path: directory) }
        // Descriptors of the old file would not see what is appended to the new one.
        descriptors.drop([id])
    }

    /// Keeps a descriptor of this file open until ``unpin()`` (it may hold unsynced writes).
    func pin() throws(KVError) { try descriptors.pin(self) }

    /// The file is synced and immutable: its descriptor may be closed like any other.
    func unpin() { descriptors.unpin(id) }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file. The corresponding
    /// system call is `pread`. With `table` (a reader's view), a cached descriptor is found there
    /// without taking the cache's lock.
    @inline(__always)
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int, table: DescriptorTable? = nil) throws(KVError) -> Int {
        if let fd = table?.fd(id), fd >= 0 {
            do { return try Sys.pread(fd, buffer, count, Int64(offset)) } catch {
                throw error.kvError("pread", path: path, offset: Int64(offset))
            }
        }
        let descriptor = try descriptors.descriptor(for: self)
        // Held to the end of the call: the cache may drop it meanwhile, and its number must not be
        // closed (and reused) under the read.
        defer { withExtendedLifetime(descriptor) {} }
        do { return try Sys.pread(descriptor.fd, buffer, count, Int64(offset)) } catch {
            throw error.kvError("pread", path: path, offset: Int64(offset))
        }
    }

    func size() throws(KVError) -> Int {
        let descriptor = try descriptors.descriptor(for: self)
        defer { withExtendedLifetime(descriptor) {} }
        do { return Int(try Sys.fileSize(descriptor.fd)) } catch { throw error.kvError("fstat", path: path) }
    }

    func allocatedBytes() throws(KVError) -> Int64 {
        let descriptor = try descriptors.descriptor(for: self)
        defer { withExtendedLifetime(descriptor) {} }
        do { return try Sys.allocatedBytes(descriptor.fd) } catch { throw error.kvError("fstat", path: path) }
    }

    func sync() throws(KVError) {
        let descriptor = try descriptors.descriptor(for: self)
        defer { withExtendedLifetime(descriptor) {} }
        do { try Sys.fdatasync(descriptor.fd) } catch { throw error.kvError("fdatasync", path: path) }
    }
}
