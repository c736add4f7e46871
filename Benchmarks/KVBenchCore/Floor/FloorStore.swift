#if canImport(Glibc)
import Glibc
#endif

/// An open floor store. Writes serialize on the log's monitor; reads take no lock.
final class FloorStore: EngineStore, @unchecked Sendable {
    // @unchecked: `log` and `table` synchronize themselves (writer lock + atomics).
    let log: FloorLog
    let table: FloorTable
    private let indexPath: String
    private let durability: DurabilitySetting

    init(directory: String, options: EngineOptions) throws {
        let logPath = directory + "/floor.log"
        indexPath = directory + "/floor.index"
        durability = options.durability
        let fd = Glibc.open(logPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError.system("open", logPath) }
        let size = FileSystem.size(of: logPath) ?? 0
        if let saved = FloorTable.load(from: indexPath, logEnd: size) {
            table = saved
            log = try FloorLog(path: logPath, fd: fd, validEnd: size)
        } else {
            let rebuilt = FloorTable(capacityFor: max(options.expectedKeys, 1))
            let validEnd: Int64
            do {
                validEnd = try FloorLogScanner.scan(fd: fd, path: logPath, end: size) { offset, length, key, value in
                    let hash = floorHash(key)
                    if value == nil {
                        _ = rebuilt.remove(hash)
                    } else {
                        rebuilt.upsert(hash, FloorLocation.pack(offset: offset, length: length))
                    }
                }
            } catch {
                Glibc.close(fd)
                throw error
            }
            table = rebuilt
            log = try FloorLog(path: logPath, fd: fd, validEnd: validEnd)
        }
        // The saved table describes this log only until the first write: drop it, so a kill forces a rebuild.
        if unlink(indexPath) != 0 && errno != ENOENT { throw BenchError.system("unlink", indexPath) }
    }

    func makeSession() throws -> any EngineSession { FloorSession(store: self) }

    func sync() throws {
        log.monitor.lock()
        defer { log.monitor.unlock() }
        try log.syncLocked()
    }

    func keyCount() throws -> Int? { log.monitor.withLock { table.count } }

    func indexBytesPerKey() throws -> Double? {
        log.monitor.withLock { table.count == 0 ? nil : Double(table.capacity * 16) / Double(table.count) }
    }

    func close() throws {
        log.monitor.lock()
        defer { log.monitor.unlock() }
        try log.flushLocked()
        try table.save(to: indexPath, logEnd: log.endLocked)
        try log.closeLocked()
    }

    /// Appends the record and publishes its location (see `FloorTable` for the order readers rely on).
    @inline(__always)
    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        let hash = floorHash(key)
        log.monitor.lock()
        defer { log.monitor.unlock() }
        let (offset, length) = try log.appendLocked(key: key, value: value)
        table.upsert(hash, FloorLocation.pack(offset: offset, length: length))
        try afterWriteLocked()
    }

    /// Appends a removal record when the key is present.
    func delete(key: UnsafeRawBufferPointer) throws -> Bool {
        let hash = floorHash(key)
        log.monitor.lock()
        defer { log.monitor.unlock() }
        guard table.remove(hash) else { return false }
        _ = try log.appendLocked(key: key, value: nil)
        try afterWriteLocked()
        return true
    }

    @inline(__always)
    private func afterWriteLocked() throws {
        switch durability {
        case .process: break
        case .sync: try log.syncLocked()
        case .periodic(let ms): try log.syncIfDueLocked(interval: UInt64(ms) * 1_000_000)
        }
    }
}
