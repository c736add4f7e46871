/// A `MAP_SHARED` mapping of a file, unmapped when the last reference goes away.
///
/// Two things are mapped, and only these: the hash index (hot, small, read by every lookup) and
/// the active segment while it is being appended to (so that a put is a `memcpy` into the page
/// cache, which survives `kill -9`, instead of a `write` system call). Sealed segments are never
/// mapped: their values are read with `pread`, so virtual memory does not grow with the data.
///
/// The file behind a mapping is always fully allocated with `posix_fallocate` before it is
/// mapped and is never truncated while mapped: touching a page past the end of a file, or a hole
/// on a full disk, would kill the process with SIGBUS instead of returning ENOSPC.
final class MappedFile: @unchecked Sendable {
    // @unchecked: the pointer never changes after init; what is stored through it is synchronized
    // by the owners (atomics on index slots, the writer lock on segment appends).
    let base: UnsafeMutableRawPointer
    let length: Int
    let fd: Int32
    let path: String
    let isWritable: Bool
    /// Whether the descriptor is closed with the mapping (the index), or belongs to someone else
    /// (the active segment's descriptor belongs to its ``SegmentFile``).
    private let ownsDescriptor: Bool

    init(fd: Int32, path: String, length: Int, writable: Bool, ownsDescriptor: Bool = false) throws(KVError) {
        do {
            base = try Sys.map(fd, length: length, writable: writable)
        } catch {
            throw error.kvError("mmap", path: path)
        }
        self.length = length
        self.isWritable = writable
        self.fd = fd
        self.path = path
        self.ownsDescriptor = ownsDescriptor
    }

    /// Writes the given range back and waits for the disk.
    func sync(offset: Int = 0, length: Int? = nil) throws(KVError) {
        let page = 4096
        let start = offset & ~(page - 1)
        let end = min(self.length, offset + (length ?? self.length - offset))
        do {
            try Sys.syncMapping(base + start, length: end - start, fd: fd)
        } catch {
            throw error.kvError("msync", path: path)
        }
    }

    deinit {
        Sys.unmap(base, length: length)
        if ownsDescriptor { Sys.close(fd) }
    }
}
