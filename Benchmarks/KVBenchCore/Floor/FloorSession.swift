#if canImport(Glibc)
import Glibc
#endif

/// One thread's handle on a floor store: its own read buffer, so a get allocates nothing.
final class FloorSession: EngineSession {
    private let store: FloorStore
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int

    init(store: FloorStore) {
        self.store = store
        capacity = 64 << 10
        buffer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { buffer.deallocate() }

    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try store.put(key: key, value: value)
    }

    /// One probe, one `pread` of the whole record, one key compare.
    @inline(__always)
    func get(key: UnsafeRawBufferPointer, checksum: inout UInt64) throws -> Int? {
        guard let location = store.table.find(floorHash(key)) else { return nil }
        let length = FloorLocation.length(location)
        if length > capacity { grow(to: length) }
        try store.log.read(offset: FloorLocation.offset(location), length: length, into: buffer)
        let keyLength = Int(buffer.load(as: UInt32.self))
        guard keyLength == key.count, memcmp(buffer + 8, key.baseAddress!, keyLength) == 0 else { return nil }
        let valueLength = length - 8 - keyLength
        if valueLength > 0 {
            checksum &+= UInt64(buffer.load(fromByteOffset: 8 + keyLength, as: UInt8.self))
                &+ UInt64(buffer.load(fromByteOffset: length - 1, as: UInt8.self))
        }
        return valueLength
    }

    func delete(key: UnsafeRawBufferPointer) throws -> Bool {
        try store.delete(key: key)
    }

    /// Reads the log in file order and reports each record that is still the current one for its key.
    func scan(_ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let end: Int64 = try store.log.monitor.withLock {
            try store.log.flushLocked()
            return store.log.endLocked
        }
        _ = try FloorLogScanner.scan(fd: store.log.fd, path: store.log.path, end: end) { offset, _, key, value in
            guard let value, let location = store.table.find(floorHash(key)),
                  FloorLocation.offset(location) == offset else { return }
            visit(key, value)
        }
    }

    func finish() throws {}

    private func grow(to length: Int) {
        buffer.deallocate()
        capacity = max(length, capacity * 2)
        buffer = .allocate(byteCount: capacity, alignment: 64)
    }
}
