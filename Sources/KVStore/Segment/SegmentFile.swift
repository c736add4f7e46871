#if canImport(Glibc)
import Glibc
#endif

/// An open segment file, shared by readers (which `pread` it) and, for the active segment, by the
/// writer. The descriptor is closed when the last reference goes away, so a reader that picked up
/// a segment can finish its read even while the store rolls or closes.
final class SegmentFile: Sendable {
    let id: UInt32
    let fd: Int32
    let path: String

    init(id: UInt32, fd: Int32, path: String) {
        self.id = id
        self.fd = fd
        self.path = path
    }

    static let foreignStoreMessage = "segment belongs to another store"

    /// Opens an existing segment and validates its header.
    static func open(directory: String, id: UInt32, storeID: UInt64, writable: Bool) throws(KVError) -> SegmentFile {
        let path = directory + "/" + FileNames.segment(id)
        let fd: Int32
        do { fd = try Sys.open(path, writable ? O_RDWR : O_RDONLY) } catch { throw error.kvError("open", path: path) }
        let file = SegmentFile(id: id, fd: fd, path: path)
        var header = [UInt8](repeating: 0, count: SegmentHeader.size)
        let n = try header.withMutableBytes { raw throws(KVError) in try file.read(into: raw.baseAddress!, count: raw.count, at: 0) }
        let decoded = try Array(header.prefix(n)).withBytes { raw throws(KVError) in try SegmentHeader.decode(raw, path: path) }
        guard decoded.segmentID == id else {
            throw .corruption("segment header names segment \(decoded.segmentID)", path: path, offset: 12)
        }
        guard decoded.storeID == storeID else {
            throw .corruption(foreignStoreMessage, path: path, offset: 16)
        }
        return file
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file. The corresponding
    /// system call is `pread`.
    @inline(__always)
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws(KVError) -> Int {
        do { return try Sys.pread(fd, buffer, count, Int64(offset)) } catch { throw error.kvError("pread", path: path, offset: Int64(offset)) }
    }

    func size() throws(KVError) -> Int {
        do { return Int(try Sys.fileSize(fd)) } catch { throw error.kvError("fstat", path: path) }
    }

    func sync() throws(KVError) {
        do { try Sys.fdatasync(fd) } catch { throw error.kvError("fdatasync", path: path) }
    }

    deinit { Sys.close(fd) }
}
