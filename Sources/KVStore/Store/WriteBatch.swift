/// The writes of one transaction, applied atomically by ``Store/write(_:)-1h0hb``, and the reads that
/// see them.
///
/// Operations apply in the order they were added; a key set twice ends with the second value.
/// Reads (`value(forKey:)`, `withValue(forKey:_:)`, `containsKey(_:)`) see the store as it
/// is plus this batch's own earlier operations. The whole closure runs while this transaction holds
/// the store's writer, so nothing else writes between a read and the write that depends on it.
public struct WriteBatch: Sendable {
    var operations: [WriteOperation] = []
    var error: KVError?
    /// The store the reads go to (the writer is held for as long as the batch is used).
    private let engine: StoreEngine?

    init(engine: StoreEngine? = nil) { self.engine = engine }

    /// The number of operations in the batch.
    public var count: Int { operations.count }

    /// Adds a set of `key` to `value`. An invalid key or value makes ``Store/write(_:)-1h0hb`` throw
    /// ``KVError/Code/invalidArgument`` without writing anything.
    public mutating func set(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>) {
        guard check(key.count, value.count) else { return }
        operations.append(.set(key: Array(key), value: Array(value)))
    }

    /// Adds a removal of `key`.
    public mutating func removeValue(forKey key: some Collection<UInt8>) {
        guard check(key.count, 0) else { return }
        operations.append(.remove(key: Array(key)))
    }

    /// Adds a set, with the key and value as UTF-8.
    public mutating func set(_ value: String, forKey key: String) { set(value.utf8, forKey: key.utf8) }
    /// Adds a set, with the key as UTF-8.
    public mutating func set(_ value: some Collection<UInt8>, forKey key: String) { set(value, forKey: key.utf8) }
    /// Adds a removal, with the key as UTF-8.
    public mutating func removeValue(forKey key: String) { removeValue(forKey: key.utf8) }

    /// The value of `key` as this transaction sees it: set or removed earlier in the batch, else
    /// what the store holds; `nil` when it is absent.
    ///
    /// ```swift
    /// try store.write { batch in
    ///     let hits = try batch.value(forKey: "hits").map { Int(String(decoding: $0, as: UTF8.self))! } ?? 0
    ///     batch.set(String(hits + 1), forKey: "hits")
    /// }
    /// ```
    public func value(forKey key: some Collection<UInt8>) throws -> [UInt8]? {
        try withValue(forKey: key) { Array($0) }
    }

    /// Calls `body` with the value of `key` as this transaction sees it (see `value(forKey:)`);
    /// `nil` when it is absent. The bytes are valid only inside `body`.
    public func withValue<R>(forKey key: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let bytes = Array(key)
        for operation in operations.reversed() {
            switch operation {
            case .set(let k, let v) where k == bytes: return try v.withUnsafeBytes { try body($0) }
            case .remove(let k) where k == bytes: return nil
            default: continue
            }
        }
        guard let engine else { throw KVError(.invalidArgument, "this batch cannot read: it is not part of a transaction") }
        try Store.checkKey(bytes.count)
        return try bytes.withUnsafeBytes { k in try engine.withValue(forKey: k, body) }
    }

    /// Whether `key` has a value as this transaction sees it.
    public func containsKey(_ key: some Collection<UInt8>) throws -> Bool {
        try withValue(forKey: key) { _ in true } ?? false
    }

    /// `value(forKey:)` with the key as UTF-8.
    public func value(forKey key: String) throws -> [UInt8]? { try value(forKey: key.utf8) }
    /// `containsKey(_:)` with the key as UTF-8.
    public func containsKey(_ key: String) throws -> Bool { try containsKey(key.utf8) }

    private mutating func check(_ keyCount: Int, _ valueCount: Int) -> Bool {
        do {
            try Store.checkKey(keyCount)
            try Store.checkValue(valueCount)
            return true
        } catch {
            if self.error == nil { self.error = error }
            return false
        }
    }
}

extension WriteOperation: @unchecked Sendable {}
