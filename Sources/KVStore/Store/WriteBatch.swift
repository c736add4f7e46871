/// Sets and removals to apply atomically with ``Store/write(_:)``.
///
/// Operations apply in the order they were added; a key set twice ends with the second value.
public struct WriteBatch: Sendable {
    var operations: [WriteOperation] = []
    var error: KVError?

    init() {}

    /// The number of operations in the batch.
    public var count: Int { operations.count }

    /// Adds a set of `key` to `value`. An invalid key or value makes ``Store/write(_:)`` throw
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
    /// Adds a removal, with the key as UTF-8.
    public mutating func removeValue(forKey key: String) { removeValue(forKey: key.utf8) }

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
