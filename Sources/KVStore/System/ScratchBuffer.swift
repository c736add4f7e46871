#if canImport(Glibc)
import Glibc
#endif

/// A per-thread buffer that record reads go into, so that `withValue` allocates nothing once a
/// thread has read its first record. Buffers over ``cachedLimit`` are allocated for the one read
/// and freed, so one huge value does not pin memory in every thread.
final class ScratchBuffer {
    static let cachedLimit = 4 << 20

    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Set while a caller holds the buffer: a `withValue` body that reads or writes the store
    /// again must not get (and overwrite) the bytes it is looking at.
    private var inUse = false

    private init(capacity: Int) {
        self.capacity = capacity
        pointer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { pointer.deallocate() }

    private static func makeKey() -> pthread_key_t {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            if let raw { Unmanaged<ScratchBuffer>.fromOpaque(raw).release() }
        }
        return key
    }

    /// Two buffers per thread: one for the record as read, one for a decompressed value.
    private static let keys: (pthread_key_t, pthread_key_t) = (makeKey(), makeKey())

    /// This thread's buffer number `slot` (0 or 1), at least `count` bytes long, for the duration of `body`.
    @inline(__always)
    static func with<R, E: Error>(_ count: Int, slot: Int = 0, _ body: (UnsafeMutableRawPointer) throws(E) -> R) throws(E) -> R {
        if count > cachedLimit {
            return try withTemporary(count, body)
        }
        let key = slot == 0 ? keys.0 : keys.1
        let buffer: ScratchBuffer
        if let raw = pthread_getspecific(key) {
            buffer = Unmanaged<ScratchBuffer>.fromOpaque(raw).takeUnretainedValue()
        } else {
            buffer = ScratchBuffer(capacity: max(4096, count))
            pthread_setspecific(key, Unmanaged.passRetained(buffer).toOpaque())
        }
        if buffer.inUse { return try withTemporary(count, body) }
        if buffer.capacity < count {
            buffer.pointer.deallocate()
            buffer.capacity = max(count, buffer.capacity * 2)
            buffer.pointer = .allocate(byteCount: buffer.capacity, alignment: 16)
        }
        buffer.inUse = true
        defer { buffer.inUse = false }
        return try body(buffer.pointer)
    }

    private static func withTemporary<R, E: Error>(_ count: Int, _ body: (UnsafeMutableRawPointer) throws(E) -> R) throws(E) -> R {
        let temporary = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        defer { temporary.deallocate() }
        return try body(temporary)
    }
}
