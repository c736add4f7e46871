/// An embedded, crash-safe key-value store in a directory.
///
/// Keys and values are bytes. Every write is appended to a log of segment files; a hash index in
/// a memory-mapped file finds each key's latest record, which is read back with one `pread`.
///
/// ```swift
/// let store = try Store(path: "/tmp/example.kv")
/// try store.set("hello", forKey: "greeting")
/// if let value = try store.value(forKey: "greeting") { print(String(decoding: value, as: UTF8.self)) }
/// try store.close()
/// ```
///
/// `Store` is `Sendable`: share one instance between threads. Any number of threads read while
/// one writes (writes are serialized); readers never wait for a writer's disk I/O. Only one
/// process at a time may open a store; another gets a ``KVError/Code/locked`` error.
///
/// Every write that returned survives the death of the process. When it also survives the loss
/// of power depends on ``Configuration/durability``; see <doc:Durability>.
public final class Store: Sendable {
    /// The longest key, in bytes: 64 KiB. Keys must be at least 1 byte long.
    public static let maximumKeyLength = Limits.maximumKeyLength
    /// The longest value, in bytes: 1 GiB. Values may be empty.
    public static let maximumValueLength = Limits.maximumValueLength

    let engine: StoreEngine

    /// The directory of the store.
    public var path: String { engine.directory }
    /// The configuration the store was opened with.
    public var configuration: Store.Configuration { engine.configuration }
    /// What opening the store found and did.
    public var recoveryReport: RecoveryReport { engine.recovery }

    /// Opens the store in the directory at `path`, creating the directory and an empty store if
    /// it does not exist.
    ///
    /// Opening after a clean ``close()-8zwz6`` reads no segment. After a crash, opening replays only the
    /// records the index had not yet covered; after a power loss it rebuilds the index from the
    /// segments (see <doc:Durability>).
    ///
    /// - Throws: ``KVError`` with ``KVError/Code/notAStore`` when `path` is a file or a non-empty
    ///   directory that is not a store, ``KVError/Code/locked`` when another process has it open,
    ///   ``KVError/Code/incompatibleFormat`` for files of a newer format, ``KVError/Code/io``.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        engine = try StoreEngine.open(path: path, configuration: configuration)
    }

    deinit {
        try? engine.close()
    }

    // MARK: - Reading

    /// The value stored for `key`, or `nil` if there is none.
    ///
    /// Costs one probe of the index and one `pread`; the record's checksum is verified.
    /// - Throws: ``KVError`` with ``KVError/Code/corruption`` when the record fails its checksum,
    ///   ``KVError/Code/closed`` after ``close()-8zwz6``.
    @inlinable
    public func value(forKey key: some Collection<UInt8>) throws -> [UInt8]? {
        try withValue(forKey: key) { Array($0) }
    }

    /// Calls `body` with the bytes of the value stored for `key`, without allocating; returns
    /// `nil` (and does not call `body`) if there is none.
    ///
    /// The buffer is valid only during `body`.
    @inlinable
    public func withValue<R>(forKey key: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        // The generic parts stay in the caller's module (specialized there); the store's own code
        // is reached through non-generic entry points taking raw bytes.
        var result: R? = nil
        try withContiguousBytes(key) { k in try _withValue(key: k) { result = try body($0) } }
        return result
    }

    /// Whether a value is stored for `key`.
    @inlinable
    public func containsKey(_ key: some Collection<UInt8>) throws -> Bool {
        try withContiguousBytes(key) { try _containsKey($0) }
    }

    // MARK: - Writing

    /// Stores `value` for `key`, replacing any previous value.
    ///
    /// Returns once the write is safe from a crash of the process, and, with
    /// ``Durability/sync``, from a loss of power.
    /// - Throws: ``KVError`` with ``KVError/Code/invalidArgument`` for an empty or too long key or a
    ///   too long value (nothing is written), ``KVError/Code/io`` (`ENOSPC` on a full disk).
    @inlinable
    public func set(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>) throws {
        // Lengths first: a lazy collection over the limit must not be copied out before it is refused.
        try _checkLengths(key: key.count, value: value.count)
        try withContiguousBytes(key) { k in try withContiguousBytes(value) { v in try _set(key: k, value: v) } }
    }

    /// Removes the value stored for `key`. Returns whether there was one.
    @inlinable @discardableResult
    public func removeValue(forKey key: some Collection<UInt8>) throws -> Bool {
        try withContiguousBytes(key) { try _removeValue(key: $0) }
    }

    /// Runs a transaction: `body` reads through the batch (the store plus the batch's own
    /// writes) and adds sets and removals, which are then applied atomically: after any crash,
    /// either all of them are in the store or none is, and readers see them all at once.
    ///
    /// ```swift
    /// try store.write { batch in
    ///     let balance = try batch.value(forKey: "alice") ?? []
    ///     batch.set(debit(balance, 10), forKey: "alice")
    ///     batch.removeValue(forKey: "pending/42")
    /// }
    /// ```
    /// The closure runs while it holds the store's writer: no other write of this store (in any
    /// thread, or by automatic compaction) happens between its reads and its writes, and those
    /// wait until it returns, so keep it short: no waiting on anything else inside it. Readers
    /// never wait. Writing to the store itself (not the batch) inside the closure throws
    /// ``KVError/Code/invalidArgument`` (it would wait for itself). Nothing is written if `body`
    /// throws, and `body`'s error is rethrown. A batch must fit in one segment file (2 GiB).
    /// - Returns: What `body` returns.
    @discardableResult
    public func write<R>(_ body: (inout WriteBatch) throws -> R) throws -> R {
        try engine.transaction(body)
    }

    /// Makes every write that returned before this call durable on disk (`fdatasync`).
    /// - Throws: ``KVError/Code/io`` if the disk reports an error; the store then refuses writes
    ///   until it is reopened.
    public func sync() throws {
        try engine.sync()
    }

    /// Syncs, marks the index clean (so the next open reads no segment) and releases the store.
    /// Idempotent; every later call on this instance throws ``KVError/Code/closed``.
    public func close() throws {
        try engine.close()
    }

    // MARK: - Non-generic entry points

    @usableFromInline
    func _checkLengths(key: Int, value: Int) throws {
        try Self.checkKey(key)
        try Self.checkValue(value)
    }

    @usableFromInline
    func _withValue(key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try Self.checkKey(key.count)
        _ = try engine.withValue(forKey: key, body)
    }

    @usableFromInline
    func _containsKey(_ key: UnsafeRawBufferPointer) throws -> Bool {
        try Self.checkKey(key.count)
        return try engine.contains(key)
    }

    @usableFromInline
    func _set(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try Self.checkKey(key.count)
        try Self.checkValue(value.count)
        try engine.set(key: key, value: value)
    }

    @usableFromInline
    func _removeValue(key: UnsafeRawBufferPointer) throws -> Bool {
        try Self.checkKey(key.count)
        return try engine.remove(key: key)
    }

    // MARK: - Helpers

    static func checkKey(_ count: Int) throws(KVError) {
        guard count >= 1 else { throw KVError(.invalidArgument, "keys must not be empty") }
        guard count <= maximumKeyLength else {
            throw KVError(.invalidArgument, "the key is \(count) bytes long; the limit is \(maximumKeyLength)")
        }
    }

    static func checkValue(_ count: Int) throws(KVError) {
        guard count <= maximumValueLength else {
            throw KVError(.invalidArgument, "the value is \(count) bytes long; the limit is \(maximumValueLength)")
        }
    }

}

/// Calls `body` with contiguous bytes of `collection`, copying only when it is not contiguous.
@inlinable
func withContiguousBytes<R>(_ collection: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    if let result = try collection.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return try Array(collection).withUnsafeBytes(body)
}

extension Store {
    /// Abandons the store as a crash would: nothing synced, the index not marked clean, the lock
    /// released. Tests only. A method of `Store` (not of its engine) so that the store is certainly
    /// alive during the call: releasing it first would close it cleanly.
    func simulateCrash() {
        engine.simulateCrash()
    }
}
