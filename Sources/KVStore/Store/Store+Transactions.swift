extension Store {
    /// Replaces the value of `key` with what `transform` makes of the current one, atomically:
    /// no other write of the store comes between the read and the write. `transform` gets `nil`
    /// when the key is absent and returns the new value, or `nil` to remove the key.
    ///
    /// ```swift
    /// // A counter that never loses an increment, whatever the number of threads.
    /// try store.update(forKey: "visits") { old in
    ///     let count = old.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } } ?? 0
    ///     return withUnsafeBytes(of: count + 1) { Array($0) }
    /// }
    /// ```
    /// It runs as a transaction of one key (``write(_:)-1h0hb``), with the same rules.
    /// - Returns: The value stored now (`nil` if the key is absent).
    @discardableResult
    public func update(forKey key: some Collection<UInt8>, _ transform: ([UInt8]?) throws -> [UInt8]?) throws -> [UInt8]? {
        let key = Array(key)
        return try write { batch in try Self.update(&batch, key: key, transform) }
    }

    /// `update(forKey:_:)` with the key as UTF-8.
    @discardableResult
    public func update(forKey key: String, _ transform: ([UInt8]?) throws -> [UInt8]?) throws -> [UInt8]? {
        try update(forKey: key.utf8, transform)
    }

    /// Sets `key` to `newValue` (or removes it, for `nil`) only if its value is `expected` now
    /// (`nil`: only if it is absent); atomically, as a transaction of one key.
    ///
    /// ```swift
    /// // Insert if absent: an idempotency key.
    /// let first = try store.compareAndSet(forKey: "request/8f2c", expected: nil, newValue: Array("done".utf8))
    /// ```
    /// - Returns: Whether the value was `expected` (and so was replaced).
    @discardableResult
    public func compareAndSet(forKey key: some Collection<UInt8>, expected: [UInt8]?, newValue: [UInt8]?) throws -> Bool {
        let key = Array(key)
        return try write { batch in
            let current = try batch.value(forKey: key)
            guard current == expected else { return false }
            if let newValue {
                batch.set(newValue, forKey: key)
            } else if current != nil {
                batch.removeValue(forKey: key)
            }
            return true
        }
    }

    /// ``compareAndSet(forKey:expected:newValue:)`` with the key as UTF-8.
    @discardableResult
    public func compareAndSet(forKey key: String, expected: [UInt8]?, newValue: [UInt8]?) throws -> Bool {
        try compareAndSet(forKey: key.utf8, expected: expected, newValue: newValue)
    }

    /// The body of every `update(forKey:_:)`: `transform` of the value the batch sees, set, or
    /// removed when it returns `nil` (an absent key stays absent: nothing is written).
    static func update(_ batch: inout WriteBatch, key: [UInt8], _ transform: ([UInt8]?) throws -> [UInt8]?) throws -> [UInt8]? {
        let old = try batch.value(forKey: key)
        let new = try transform(old)
        if let new {
            batch.set(new, forKey: key)
        } else if old != nil {
            batch.removeValue(forKey: key)
        }
        return new
    }
}
