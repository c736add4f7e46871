#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The segment being appended to, mapped read-write. Owned by the writer.
///
/// Why a mapping: a store into a `MAP_SHARED` mapping lands in the page cache at once, and the page
/// cache survives `kill -9`. So a put that returned is safe from a process crash without a system
/// call per put, which a buffered `write` could not give (its buffer dies with the process) and an
/// unbuffered `write` could not afford (~1 µs each). Readers never touch this mapping; they `pread`
/// the same file, which the kernel keeps coherent with the mapping.
///
/// The file is preallocated to ``capacity`` with `posix_fallocate` before it is mapped, so filling
/// it cannot fault on a full disk (ENOSPC surfaces at allocation, as an error, never as SIGBUS).
final class ActiveSegment {
    let file: SegmentFile
    /// The writer's descriptor, pinned in the store's descriptor cache while this lives.
    let descriptor: SegmentDescriptor
    let mapping: MappedFile
    let capacity: Int
    /// Where the next record goes; always a multiple of 8.
    private(set) var end: Int
    /// Pages below this offset have been faulted in for writing.
    private var populatedEnd = 0
    private static let populateChunk = 1 << 20

    var id: UInt32 { file.id }

    private init(file: SegmentFile, descriptor: SegmentDescriptor, mapping: MappedFile, capacity: Int, end: Int) {
        self.file = file
        self.descriptor = descriptor
        self.mapping = mapping
        self.capacity = capacity
        self.end = end
    }

    /// Creates segment `id`, sized to hold at least `capacity` bytes. With `temporary`, the file
    /// is created as `NNNNNNNN.seg.tmp` and gets its name from ``commitName()``.
    static func create(directory: String, id: UInt32, storeID: UInt64, capacity: Int, temporary: Bool = false,
                       descriptors: DescriptorCache) throws(KVError) -> ActiveSegment {
        guard id <= Limits.maximumSegmentID else {
            throw KVError(.unsupported, "the store has used all \(Limits.maximumSegmentID) segment numbers; copy its data into a new store")
        }
        let path = directory + "/" + FileNames.segment(id)
        let openPath = temporary ? path + FileNames.temporarySuffix : path
        let fd: Int32
        do { fd = try Sys.open(openPath, O_RDWR | O_CREAT | (temporary ? O_TRUNC : O_EXCL)) } catch { throw error.kvError("open", path: openPath) }
        let descriptor = SegmentDescriptor(fd: fd)
        do {
            try Sys.allocate(fd, offset: 0, length: Int64(capacity))
        } catch {
            _ = try? Sys.unlink(openPath)
            throw error.kvError("posix_fallocate", path: openPath)
        }
        let mapping: MappedFile
        do { mapping = try MappedFile(fd: fd, path: path, length: capacity, writable: true) } catch {
            _ = try? Sys.unlink(openPath)
            throw error
        }
        let header = SegmentHeader(segmentID: id, storeID: storeID).encode()
        header.withUnsafeBytes { mapping.base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        // Only now, when nothing can fail: readers and syncs reach the file through this descriptor.
        let file = SegmentFile(id: id, path: path, descriptors: descriptors, state: .active)
        descriptors.pin(descriptor, for: id)
        return ActiveSegment(file: file, descriptor: descriptor, mapping: mapping, capacity: capacity, end: SegmentHeader.size)
    }

    /// Gives a segment created with `temporary` its final name.
    func commitName() throws(KVError) {
        do { try Sys.rename(file.path + FileNames.temporarySuffix, file.path) } catch { throw error.kvError("rename", path: file.path) }
    }

    /// Continues appending to an existing segment whose records end at `end`, through `descriptor`
    /// (from ``SegmentFile/openForWriting()``).
    static func resume(file: SegmentFile, descriptor: SegmentDescriptor, end: Int, capacity: Int) throws(KVError) -> ActiveSegment {
        let size: Int
        do { size = Int(try Sys.fileSize(descriptor.fd)) } catch { throw error.kvError("fstat", path: file.path) }
        let capacity = max(capacity, size, alignedTo8(end))
        do {
            try Sys.allocate(descriptor.fd, offset: 0, length: Int64(capacity))
        } catch {
            throw error.kvError("posix_fallocate", path: file.path)
        }
        let mapping = try MappedFile(fd: descriptor.fd, path: file.path, length: capacity, writable: true)
        file.lifecycle.recover(as: .active)
        return ActiveSegment(file: file, descriptor: descriptor, mapping: mapping, capacity: capacity, end: end)
    }

    /// The address where a record of `length` bytes would be written, or `nil` if it does not fit.
    @inline(__always) func reserve(_ length: Int) -> UnsafeMutableRawPointer? {
        guard alignedTo8(length) <= capacity - end else { return nil }
        if end + length > populatedEnd { populate(through: end + length) }
        return mapping.base + end
    }

    private func populate(through offset: Int) {
        let start = populatedEnd & ~4095
        let stop = min(capacity, max(offset, populatedEnd + Self.populateChunk))
        Sys.populateForWriting(mapping.base + start, length: stop - start)
        populatedEnd = stop
    }

    /// Makes the record at `offset` visible: one aligned 8-byte store of its commit word. Before
    /// it, the word is zero and the record does not exist for any reader or for recovery.
    @inline(__always) func publish(commitWord: UInt64, at offset: Int) {
        (mapping.base + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee
            .store(commitWord.littleEndian, ordering: .releasing)
    }

    /// Moves the end past a published record.
    @inline(__always) func advance(by length: Int) {
        end += alignedTo8(length)
        // Invariant: records never pass the preallocated capacity.
        assert(end <= capacity)
    }

    /// Reads bytes of a record already written to this segment (writer only).
    @inline(__always) func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, count >= 0, offset + count <= end else { return nil }
        return UnsafeRawBufferPointer(start: mapping.base + offset, count: count)
    }
}
