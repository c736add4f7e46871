import CSQLite
import KVBenchCore

/// SQLite (libsqlite3): a `WITHOUT ROWID` table keyed by the key blob.
///
/// Settings (peers/README.md): `CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID`,
/// `journal_mode=WAL` and `synchronous=OFF` on every connection, other defaults; prepared `INSERT OR REPLACE`,
/// `BEGIN`/`COMMIT` every 1000 puts; `fsync` of the database and its WAL at the end of a write benchmark. Reads:
/// one connection per thread, one transaction for the whole benchmark, a prepared `SELECT`. With `.sync`
/// durability, `synchronous=FULL` and one transaction per put.
public enum SQLiteEngine: BenchEngine {
    public static let name = "sqlite"
    public static var summary: String {
        "SQLite \(String(cString: sqlite3_libversion())): WAL, synchronous=OFF, WITHOUT ROWID, 1000 puts/txn"
    }

    public static func open(directory: String, options: EngineOptions) throws -> any EngineStore {
        try SQLiteStore(directory: directory, options: options)
    }
}

/// SQLITE_STATIC: the bound bytes stay valid until the statement is reset.
let sqliteStatic = unsafeBitCast(0, to: sqlite3_destructor_type.self)

/// A connection with the benchmark's pragmas.
func sqliteOpen(_ path: String, synchronous: String) throws -> OpaquePointer {
    var db: OpaquePointer?
    let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
    guard rc == SQLITE_OK, let db else {
        sqlite3_close(db)
        throw BenchError("sqlite open \(path): \(String(cString: sqlite3_errstr(rc)))")
    }
    sqlite3_busy_timeout(db, 60_000)
    try sqliteExec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=\(synchronous);")
    return db
}

/// Runs SQL without results.
func sqliteExec(_ db: OpaquePointer, _ sql: String) throws {
    var message: UnsafeMutablePointer<CChar>?
    if sqlite3_exec(db, sql, nil, nil, &message) != SQLITE_OK {
        let text = message.map { String(cString: $0) } ?? "error"
        sqlite3_free(message)
        throw BenchError("sqlite \(sql): \(text)")
    }
}

/// Prepares one statement.
func sqlitePrepare(_ db: OpaquePointer, _ sql: String) throws -> OpaquePointer {
    var statement: OpaquePointer?
    guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
        throw BenchError("sqlite prepare \(sql): \(String(cString: sqlite3_errmsg(db)))")
    }
    return statement
}

/// An SQLite database: a connection kept open for the store's lifetime (it created the table, and keeps the WAL
/// from being checkpointed away between benchmarks) plus one connection per session.
final class SQLiteStore: EngineStore, @unchecked Sendable {
    // @unchecked: `main` is only used by init, sync and close, which the driver never runs concurrently.
    let path: String
    let synchronous: String
    let batch: Int
    private let main: OpaquePointer

    init(directory: String, options: EngineOptions) throws {
        path = directory + "/kv.db"
        synchronous = options.durability == .sync ? "FULL" : "OFF"
        batch = transactionBatch(options)
        if options.compression != .none { warn("sqlite has no compression; running uncompressed") }
        main = try sqliteOpen(path, synchronous: synchronous)
        try sqliteExec(main, "CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID")
    }

    func makeSession() throws -> any EngineSession { try SQLiteSession(store: self) }

    /// `synchronous=OFF` never syncs: fsync the database and its WAL.
    func sync() throws {
        try fsyncFile(path)
        try fsyncFile(path + "-wal")
    }

    func close() throws {
        if sqlite3_close(main) != SQLITE_OK { throw BenchError("sqlite close: \(String(cString: sqlite3_errmsg(main)))") }
    }
}

/// One thread's connection, its prepared statements, and its transaction: none, reading, or writing (batched).
final class SQLiteSession: EngineSession {
    private enum State { case idle, reading, writing }

    private let store: SQLiteStore
    private let db: OpaquePointer
    private let insert: OpaquePointer
    private let select: OpaquePointer
    private let remove: OpaquePointer
    private var state = State.idle
    private var pending = 0

    init(store: SQLiteStore) throws {
        self.store = store
        db = try sqliteOpen(store.path, synchronous: store.synchronous)
        insert = try sqlitePrepare(db, "INSERT OR REPLACE INTO kv(key, value) VALUES(?, ?)")
        select = try sqlitePrepare(db, "SELECT value FROM kv WHERE key = ?")
        remove = try sqlitePrepare(db, "DELETE FROM kv WHERE key = ?")
    }

    deinit {
        if state != .idle { sqlite3_exec(db, "ROLLBACK", nil, nil, nil) }
        sqlite3_finalize(insert)
        sqlite3_finalize(select)
        sqlite3_finalize(remove)
        sqlite3_close(db)
    }

    private func beginWrite() throws {
        if state == .reading { try sqliteExec(db, "COMMIT"); state = .idle }
        if state == .idle {
            try sqliteExec(db, "BEGIN IMMEDIATE")
            state = .writing
            pending = 0
        }
    }

    private func afterWrite() throws {
        pending += 1
        if pending >= store.batch { try finish() }
    }

    private func step(_ statement: OpaquePointer, _ what: String) throws -> Int32 {
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_ROW || rc == SQLITE_DONE else {
            sqlite3_reset(statement)
            throw BenchError("sqlite \(what): \(String(cString: sqlite3_errmsg(db)))")
        }
        return rc
    }

    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try beginWrite()
        sqlite3_bind_blob(insert, 1, key.baseAddress, Int32(key.count), sqliteStatic)
        sqlite3_bind_blob(insert, 2, value.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(value.count),
                          sqliteStatic)
        _ = try step(insert, "insert")
        sqlite3_reset(insert)
        try afterWrite()
    }

    func get(key: UnsafeRawBufferPointer, checksum: inout UInt64) throws -> Int? {
        if state == .idle {
            try sqliteExec(db, "BEGIN")
            state = .reading
        }
        sqlite3_bind_blob(select, 1, key.baseAddress, Int32(key.count), sqliteStatic)
        defer { sqlite3_reset(select) }
        guard try step(select, "select") == SQLITE_ROW else { return nil }
        let length = Int(sqlite3_column_bytes(select, 0))
        UnsafeRawBufferPointer(start: sqlite3_column_blob(select, 0), count: length).touch(&checksum)
        return length
    }

    func delete(key: UnsafeRawBufferPointer) throws -> Bool {
        try beginWrite()
        sqlite3_bind_blob(remove, 1, key.baseAddress, Int32(key.count), sqliteStatic)
        _ = try step(remove, "delete")
        sqlite3_reset(remove)
        let removed = sqlite3_changes(db) > 0
        try afterWrite()
        return removed
    }

    func scan(_ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let statement = try sqlitePrepare(db, "SELECT key, value FROM kv")
        defer { sqlite3_finalize(statement) }
        while try step(statement, "scan") == SQLITE_ROW {
            visit(UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, 0),
                                         count: Int(sqlite3_column_bytes(statement, 0))),
                  UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, 1),
                                         count: Int(sqlite3_column_bytes(statement, 1))))
        }
    }

    func finish() throws {
        guard state != .idle else { return }
        state = .idle
        pending = 0
        try sqliteExec(db, "COMMIT")
    }
}
