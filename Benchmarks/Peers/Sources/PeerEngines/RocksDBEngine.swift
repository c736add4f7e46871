import CRocksDB
import KVBenchCore

/// RocksDB (librocksdb) through its C API.
///
/// Settings (peers/README.md): `Options()` defaults (64 MiB memtable, leveled compaction, 2 background jobs,
/// 4 KiB blocks) plus an 8 MiB LRU block cache, no compression (LZ4 with `--compression lz4`) and a 10-bit bloom
/// filter; puts without sync, `FlushWAL(sync)` at the end of a write benchmark; gets into a pinnable slice
/// (no copy).
public enum RocksDBEngine: BenchEngine {
    public static let name = "rocksdb"
    public static let summary = "RocksDB: defaults, no compression, bloom 10 bits, 8 MiB cache, pinned gets"

    public static func open(directory: String, options: EngineOptions) throws -> any EngineStore {
        try RocksDBStore(directory: directory, options: options)
    }
}

/// Throws when a RocksDB call set `error`, freeing it.
@inline(__always)
func rocksdbCheck(_ error: UnsafeMutablePointer<CChar>?, _ what: String) throws {
    guard let error else { return }
    let message = String(cString: error)
    rocksdb_free(error)
    throw BenchError("rocksdb \(what): \(message)")
}

/// An open RocksDB database; also every thread's session, since `rocksdb_t` is thread-safe.
final class RocksDBStore: EngineStore, EngineSession, @unchecked Sendable {
    // @unchecked: rocksdb_t and the option objects are thread-safe once created and are never changed.
    private let db: OpaquePointer
    private let options: OpaquePointer
    private let table: OpaquePointer
    private let cache: OpaquePointer
    private let writeOptions: OpaquePointer
    private let readOptions: OpaquePointer

    init(directory: String, options engineOptions: EngineOptions) throws {
        options = rocksdb_options_create()
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_set_compression(options, Int32(engineOptions.compression == .lz4
            ? rocksdb_lz4_compression : rocksdb_no_compression))
        table = rocksdb_block_based_options_create()
        rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom(10))
        cache = rocksdb_cache_create_lru(8 << 20)
        rocksdb_block_based_options_set_block_cache(table, cache)
        rocksdb_options_set_block_based_table_factory(options, table)
        writeOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(writeOptions, engineOptions.durability == .sync ? 1 : 0)
        if case .periodic = engineOptions.durability { warn("rocksdb: periodic durability runs as process") }
        readOptions = rocksdb_readoptions_create()
        var error: UnsafeMutablePointer<CChar>?
        let opened = rocksdb_open(options, directory, &error)
        if error != nil || opened == nil {
            rocksdb_readoptions_destroy(readOptions)
            rocksdb_writeoptions_destroy(writeOptions)
            rocksdb_options_destroy(options)
            rocksdb_block_based_options_destroy(table)
            rocksdb_cache_destroy(cache)
            try rocksdbCheck(error, "open")
            throw BenchError("rocksdb open: failed")
        }
        db = opened!
    }

    func makeSession() throws -> any EngineSession { self }

    func sync() throws {
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_flush_wal(db, 1, &error)
        try rocksdbCheck(error, "flush_wal(sync)")
    }

    func close() throws {
        rocksdb_close(db)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(writeOptions)
        rocksdb_options_destroy(options)
        rocksdb_block_based_options_destroy(table)
        rocksdb_cache_destroy(cache)
    }

    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_put(db, writeOptions, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
                    value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count, &error)
        try rocksdbCheck(error, "put")
    }

    func get(key: UnsafeRawBufferPointer, checksum: inout UInt64) throws -> Int? {
        var error: UnsafeMutablePointer<CChar>?
        let slice = rocksdb_get_pinned(db, readOptions, key.baseAddress?.assumingMemoryBound(to: CChar.self),
                                       key.count, &error)
        try rocksdbCheck(error, "get")
        guard let slice else { return nil }
        defer { rocksdb_pinnableslice_destroy(slice) }
        var length = 0
        let value = rocksdb_pinnableslice_value(slice, &length)
        UnsafeRawBufferPointer(start: value, count: length).touch(&checksum)
        return length
    }

    /// RocksDB's delete does not say whether the key existed: true.
    func delete(key: UnsafeRawBufferPointer) throws -> Bool {
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_delete(db, writeOptions, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count, &error)
        try rocksdbCheck(error, "delete")
        return true
    }

    func scan(_ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let iterator = rocksdb_create_iterator(db, readOptions)
        defer { rocksdb_iter_destroy(iterator) }
        rocksdb_iter_seek_to_first(iterator)
        var keyLength = 0, valueLength = 0
        while rocksdb_iter_valid(iterator) != 0 {
            let key = rocksdb_iter_key(iterator, &keyLength)
            let value = rocksdb_iter_value(iterator, &valueLength)
            visit(UnsafeRawBufferPointer(start: key, count: keyLength),
                  UnsafeRawBufferPointer(start: value, count: valueLength))
            rocksdb_iter_next(iterator)
        }
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(iterator, &error)
        try rocksdbCheck(error, "iterate")
    }

    func finish() throws {}
}
