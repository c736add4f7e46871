import CLevelDB
import KVBenchCore

/// LevelDB (libleveldb) through its C API.
///
/// Settings (peers/README.md): default options (4 MiB write buffer, 2 MiB files, 4 KiB blocks) plus an explicit
/// 8 MiB LRU block cache, no compression (LevelDB 1.23 has only snappy) and a 10-bit bloom filter; puts without
/// sync, and at the end of a write benchmark one synced write of an empty batch. The C API's get returns a copy
/// in a malloc'd buffer (the C++ baseline read into a `std::string`, also a copy).
public enum LevelDBEngine: BenchEngine {
    public static let name = "leveldb"
    public static var summary: String {
        "LevelDB \(leveldb_major_version()).\(leveldb_minor_version()): no compression, bloom 10 bits, 8 MiB cache"
    }

    public static func open(directory: String, options: EngineOptions) throws -> any EngineStore {
        try LevelDBStore(directory: directory, options: options)
    }
}

/// Throws when a LevelDB call set `error`, freeing it.
@inline(__always)
func leveldbCheck(_ error: UnsafeMutablePointer<CChar>?, _ what: String) throws {
    guard let error else { return }
    let message = String(cString: error)
    leveldb_free(error)
    throw BenchError("leveldb \(what): \(message)")
}

/// An open LevelDB database; also every thread's session, since `leveldb_t` is thread-safe.
final class LevelDBStore: EngineStore, EngineSession, @unchecked Sendable {
    // @unchecked: leveldb_t and the option objects are thread-safe once created and are never changed.
    private let db: OpaquePointer
    private let options: OpaquePointer
    private let cache: OpaquePointer
    private let filter: OpaquePointer
    private let writeOptions: OpaquePointer
    private let syncOptions: OpaquePointer
    private let readOptions: OpaquePointer

    init(directory: String, options engineOptions: EngineOptions) throws {
        options = leveldb_options_create()
        leveldb_options_set_create_if_missing(options, 1)
        leveldb_options_set_compression(options, Int32(leveldb_no_compression))
        if engineOptions.compression != .none { warn("leveldb 1.23 has no lz4; running uncompressed") }
        cache = leveldb_cache_create_lru(8 << 20)
        leveldb_options_set_cache(options, cache)
        filter = leveldb_filterpolicy_create_bloom(10)
        leveldb_options_set_filter_policy(options, filter)
        writeOptions = leveldb_writeoptions_create()
        leveldb_writeoptions_set_sync(writeOptions, engineOptions.durability == .sync ? 1 : 0)
        if case .periodic = engineOptions.durability { warn("leveldb: periodic durability runs as process") }
        syncOptions = leveldb_writeoptions_create()
        leveldb_writeoptions_set_sync(syncOptions, 1)
        readOptions = leveldb_readoptions_create()
        var error: UnsafeMutablePointer<CChar>?
        let opened = leveldb_open(options, directory, &error)
        if error != nil || opened == nil {
            leveldb_readoptions_destroy(readOptions)
            leveldb_writeoptions_destroy(syncOptions)
            leveldb_writeoptions_destroy(writeOptions)
            leveldb_options_destroy(options)
            leveldb_filterpolicy_destroy(filter)
            leveldb_cache_destroy(cache)
            try leveldbCheck(error, "open")
            throw BenchError("leveldb open: failed")
        }
        db = opened!
    }

    func makeSession() throws -> any EngineSession { self }

    func sync() throws {
        let batch = leveldb_writebatch_create()
        defer { leveldb_writebatch_destroy(batch) }
        var error: UnsafeMutablePointer<CChar>?
        leveldb_write(db, syncOptions, batch, &error)
        try leveldbCheck(error, "write(sync)")
    }

    func close() throws {
        leveldb_close(db)
        leveldb_readoptions_destroy(readOptions)
        leveldb_writeoptions_destroy(syncOptions)
        leveldb_writeoptions_destroy(writeOptions)
        leveldb_options_destroy(options)
        leveldb_filterpolicy_destroy(filter)
        leveldb_cache_destroy(cache)
    }

    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        var error: UnsafeMutablePointer<CChar>?
        leveldb_put(db, writeOptions, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
                    value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count, &error)
        try leveldbCheck(error, "put")
    }

    func get(key: UnsafeRawBufferPointer, checksum: inout UInt64) throws -> Int? {
        var error: UnsafeMutablePointer<CChar>?
        var length = 0
        let value = leveldb_get(db, readOptions, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
                                &length, &error)
        try leveldbCheck(error, "get")
        guard let value else { return nil }
        UnsafeRawBufferPointer(start: value, count: length).touch(&checksum)
        leveldb_free(value)
        return length
    }

    /// LevelDB's delete does not say whether the key existed: true.
    func delete(key: UnsafeRawBufferPointer) throws -> Bool {
        var error: UnsafeMutablePointer<CChar>?
        leveldb_delete(db, writeOptions, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count, &error)
        try leveldbCheck(error, "delete")
        return true
    }

    func scan(_ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let iterator = leveldb_create_iterator(db, readOptions)
        defer { leveldb_iter_destroy(iterator) }
        leveldb_iter_seek_to_first(iterator)
        var keyLength = 0, valueLength = 0
        while leveldb_iter_valid(iterator) != 0 {
            let key = leveldb_iter_key(iterator, &keyLength)
            let value = leveldb_iter_value(iterator, &valueLength)
            visit(UnsafeRawBufferPointer(start: key, count: keyLength),
                  UnsafeRawBufferPointer(start: value, count: valueLength))
            leveldb_iter_next(iterator)
        }
        var error: UnsafeMutablePointer<CChar>?
        leveldb_iter_get_error(iterator, &error)
        try leveldbCheck(error, "iterate")
    }

    func finish() throws {}
}
