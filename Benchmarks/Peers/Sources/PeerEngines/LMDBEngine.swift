import CLMDB
import KVBenchCore

/// LMDB (liblmdb): a copy-on-write B+tree in one memory-mapped file.
///
/// Settings (peers/README.md): `MDB_NOSYNC | MDB_NOMETASYNC`, no `MDB_WRITEMAP`, map size 4·N·(V+128) + 1 GiB,
/// 1000 puts per write transaction, plain `mdb_put`, `mdb_env_sync(env, 1)` at the end of a write benchmark.
/// Reads: one `MDB_RDONLY` transaction per thread for the whole benchmark, zero-copy `mdb_get`, cursor scan.
/// With `.sync` durability the flags are dropped and every put is its own (synced) transaction.
/// Reader processes (`--processes`): LMDB's own multi-process readers, `MDB_RDONLY` beside the writer process; their
/// snapshot is renewed every 1024 gets, so that they follow the writer and do not pin the pages it frees.
public enum LMDBEngine: BenchEngine {
    public static let name = "lmdb"
    public static var summary: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        _ = mdb_version(&major, &minor, &patch)
        return "LMDB \(major).\(minor).\(patch): NOSYNC|NOMETASYNC, 1000 puts/txn, zero-copy gets"
    }

    public static func open(directory: String, options: EngineOptions) throws -> any EngineStore {
        try LMDBStore(directory: directory, options: options)
    }

    public static func dataFiles(in directory: String) -> [String] { [directory + "/data.mdb"] }

    public static let hasReaderProcesses = true

    public static func openReader(directory: String, options: EngineOptions) throws -> any EngineStore {
        try LMDBStore(directory: directory, options: options, readOnly: true)
    }
}

/// Throws for an LMDB return code other than success.
@inline(__always)
func lmdbCheck(_ rc: Int32, _ what: String) throws {
    if rc != 0 { throw BenchError("lmdb \(what): \(String(cString: mdb_strerror(rc)))") }
}

final class LMDBStore: EngineStore, @unchecked Sendable {
    // @unchecked: an MDB_env is thread-safe (MDB_NOTLS); `dbi` is fixed after init.
    let env: OpaquePointer
    let dbi: MDB_dbi
    let batch: Int
    /// Opened with `MDB_RDONLY` beside a writer process: read snapshots are renewed as the session goes.
    let readOnly: Bool

    init(directory: String, options: EngineOptions, readOnly: Bool = false) throws {
        self.readOnly = readOnly
        var env: OpaquePointer?
        try lmdbCheck(mdb_env_create(&env), "env_create")
        let mapSize = 4 * max(options.expectedKeys, 1) * (options.valueSize + 128) + (1 << 30)
        try lmdbCheck(mdb_env_set_mapsize(env, mapSize), "set_mapsize")
        try lmdbCheck(mdb_env_set_maxreaders(env, 256), "set_maxreaders")
        batch = transactionBatch(options)
        var flags = UInt32(MDB_NOTLS)
        if options.durability != .sync { flags |= UInt32(MDB_NOSYNC) | UInt32(MDB_NOMETASYNC) }
        if readOnly { flags |= UInt32(MDB_RDONLY) }
        if options.compression != .none && !readOnly { warn("lmdb has no compression; running uncompressed") }
        do {
            try lmdbCheck(mdb_env_open(env, directory, flags, 0o644), "env_open")
            var txn: OpaquePointer?
            try lmdbCheck(mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "txn_begin")
            var dbi = MDB_dbi()
            let rc = mdb_dbi_open(txn, nil, 0, &dbi)
            if rc != 0 { mdb_txn_abort(txn) }
            try lmdbCheck(rc, "dbi_open")
            try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
            self.dbi = dbi
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.env = env!
    }

    func makeSession() throws -> any EngineSession { LMDBSession(store: self) }

    func sync() throws { try lmdbCheck(mdb_env_sync(env, 1), "env_sync") }

    func close() throws { mdb_env_close(env) }
}

/// One thread's LMDB transaction state: none, a read snapshot, or a write transaction (batched).
final class LMDBSession: EngineSession {
    private let store: LMDBStore
    private var txn: OpaquePointer?
    private var writing = false
    private var pending = 0
    /// Gets since the read snapshot was taken (renewed every `renewal` in a reader process).
    private var reads = 0
    private static let renewal = 1024

    init(store: LMDBStore) { self.store = store }

    deinit { if let txn { mdb_txn_abort(txn) } }

    private func beginRead() throws {
        try lmdbCheck(mdb_txn_begin(store.env, nil, UInt32(MDB_RDONLY), &txn), "txn_begin(rdonly)")
        writing = false
    }

    private func beginWrite() throws {
        if let txn, !writing {
            mdb_txn_abort(txn)
            self.txn = nil
        }
        if txn == nil {
            try lmdbCheck(mdb_txn_begin(store.env, nil, 0, &txn), "txn_begin")
            writing = true
            pending = 0
        }
    }

    private func afterWrite() throws {
        pending += 1
        if pending >= store.batch { try finish() }
    }

    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try beginWrite()
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(mdb_put(txn, store.dbi, &k, &v, 0), "put")
        try afterWrite()
    }

    func get(key: UnsafeRawBufferPointer, checksum: inout UInt64) throws -> Int? {
        if txn == nil { try beginRead() }
        if store.readOnly {
            reads += 1
            if reads == Self.renewal {
                reads = 0
                mdb_txn_reset(txn)
                try lmdbCheck(mdb_txn_renew(txn), "txn_renew")
            }
        }
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(txn, store.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc, "get")
        UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size).touch(&checksum)
        return v.mv_size
    }

    func delete(key: UnsafeRawBufferPointer) throws -> Bool {
        try beginWrite()
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(txn, store.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try lmdbCheck(rc, "del")
        try afterWrite()
        return true
    }

    func scan(_ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        if txn == nil { try beginRead() }
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(txn, store.dbi, &cursor), "cursor_open")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        while rc == 0 {
            visit(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                  UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try lmdbCheck(rc, "cursor_get") }
    }

    func finish() throws {
        guard let txn else { return }
        self.txn = nil
        if writing {
            try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
        } else {
            mdb_txn_abort(txn)
        }
        pending = 0
    }
}
