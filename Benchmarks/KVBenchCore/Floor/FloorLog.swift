#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The floor's one append-only file. Records are `u32 key length, u32 value length (0xFFFFFFFF = removal), key,
/// value` in host byte order, with no checksum, appended through a 1 MiB user-space buffer that is handed to the
/// kernel with one `pwrite` when full.
///
/// Every method whose name ends in `Locked` needs `monitor` held. Readers of records that are already in the file
/// (`flushedEnd`) take no lock; a record still in the buffer is copied out under the lock.
final class FloorLog: @unchecked Sendable {
    // @unchecked: the mutable fields are guarded by `monitor`; `flushedEnd` is atomic.
    static let bufferCapacity = 1 << 20
    static let removalMarker = UInt32.max

    let path: String
    let fd: Int32
    /// The writer lock (also guards the table's writes).
    let monitor = Monitor()
    /// Bytes in the file: records below are readable with `pread`.
    let flushedEnd: Atomic<Int64>

    private let buffer: UnsafeMutableRawPointer
    private var bufferStart: Int64
    private var bufferCount = 0
    private var syncedEnd: Int64
    private var syncing = false
    private var lastSync = monotonicNanos()
    private var closed = false

    /// Opens (creating) the log at `path`, keeping its first `validEnd` bytes (a torn tail is cut off).
    init(path: String, fd: Int32, validEnd: Int64) throws {
        self.path = path
        self.fd = fd
        if ftruncate(fd, off_t(validEnd)) != 0 { throw BenchError.system("ftruncate", path) }
        buffer = .allocate(byteCount: Self.bufferCapacity, alignment: 4096)
        bufferStart = validEnd
        syncedEnd = validEnd
        flushedEnd = Atomic(validEnd)
    }

    deinit {
        buffer.deallocate()
        if !closed { Glibc.close(fd) }
    }

    /// Bytes written, including those still in the buffer.
    var endLocked: Int64 { bufferStart + Int64(bufferCount) }

    /// Appends one record and returns its offset and length.
    func appendLocked(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) throws -> (Int64, Int) {
        let valueCount = value?.count ?? 0
        let length = 8 + key.count + valueCount
        guard length < FloorLocation.maximumLength else { throw BenchError("floor: records are limited to 16 MiB") }
        if bufferCount + length > Self.bufferCapacity { try flushLocked() }
        let offset = endLocked
        if length > Self.bufferCapacity {
            // Larger than the buffer (values over 1 MiB): written directly, header and key first.
            var head = [UInt8](repeating: 0, count: 8 + key.count)
            head.withUnsafeMutableBytes { h in
                h.storeBytes(of: UInt32(key.count), toByteOffset: 0, as: UInt32.self)
                h.storeBytes(of: UInt32(valueCount), toByteOffset: 4, as: UInt32.self)
                if key.count > 0 { (h.baseAddress! + 8).copyMemory(from: key.baseAddress!, byteCount: key.count) }
            }
            try head.withUnsafeBytes { try FloorIO.writeAll(fd, $0.baseAddress!, $0.count, at: offset, path: path) }
            if let value, valueCount > 0 {
                try FloorIO.writeAll(fd, value.baseAddress!, valueCount, at: offset + Int64(8 + key.count),
                                     path: path)
            }
            bufferStart += Int64(length)
            flushedEnd.store(bufferStart, ordering: .releasing)
            return (offset, length)
        }
        let out = buffer + bufferCount
        out.storeBytes(of: UInt32(key.count), as: UInt32.self)
        out.storeBytes(of: value == nil ? Self.removalMarker : UInt32(valueCount), toByteOffset: 4, as: UInt32.self)
        if key.count > 0 { (out + 8).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        if let value, valueCount > 0 { (out + 8 + key.count).copyMemory(from: value.baseAddress!, byteCount: valueCount) }
        bufferCount += length
        return (offset, length)
    }

    /// Hands the buffer to the kernel with one `pwrite`.
    func flushLocked() throws {
        guard bufferCount > 0 else { return }
        try FloorIO.writeAll(fd, buffer, bufferCount, at: bufferStart, path: path)
        bufferStart += Int64(bufferCount)
        bufferCount = 0
        flushedEnd.store(bufferStart, ordering: .releasing)
    }

    /// Flushes and makes everything durable with one `fdatasync`, shared by all writers waiting at that moment
    /// (group commit): one writer syncs with the lock released while the others append and then wait for it.
    func syncLocked() throws {
        try flushLocked()
        let target = bufferStart
        while syncedEnd < target {
            if syncing {
                monitor.wait()
                continue
            }
            syncing = true
            let end = bufferStart
            monitor.unlock()
            let rc = fdatasync(fd)
            let code = errno
            monitor.lock()
            syncing = false
            monitor.broadcast()
            if rc != 0 { throw BenchError.system("fdatasync", path, errno: code) }
            syncedEnd = max(syncedEnd, end)
            lastSync = monotonicNanos()
        }
    }

    /// Syncs when the last sync is at least `interval` nanoseconds old (`.periodic` durability).
    func syncIfDueLocked(interval: UInt64) throws {
        if monotonicNanos() &- lastSync >= interval { try syncLocked() }
    }

    /// Copies the `length`-byte record at `offset` into `destination`: one `pread` once it is in the file.
    @inline(__always)
    func read(offset: Int64, length: Int, into destination: UnsafeMutableRawPointer) throws {
        if offset + Int64(length) <= flushedEnd.load(ordering: .acquiring) {
            try FloorIO.readAll(fd, destination, length, at: offset, path: path)
            return
        }
        monitor.lock()
        if offset >= bufferStart {
            destination.copyMemory(from: buffer + Int(offset - bufferStart), byteCount: length)
            monitor.unlock()
            return
        }
        monitor.unlock()
        try FloorIO.readAll(fd, destination, length, at: offset, path: path)
    }

    /// Closes the file (after a flush).
    func closeLocked() throws {
        guard !closed else { return }
        try flushLocked()
        closed = true
        if Glibc.close(fd) != 0 { throw BenchError.system("close", path) }
    }
}
