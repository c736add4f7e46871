extension Store {
    /// Stores `value` for `key`, suspending instead of blocking while the write is made durable.
    ///
    /// The write itself is the same as ``set(_:forKey:)-90u73``'s (it takes the store's writer
    /// for the microseconds of an append). With ``Durability/sync`` the task then suspends until
    /// the write is on disk: the store's own sync thread runs the `fdatasync`s, and every writer
    /// suspended while one runs shares the next one (group commit), so no thread of Swift's
    /// cooperative pool waits on the disk. In the other durability modes it returns at once, as
    /// the synchronous call does.
    ///
    /// ```swift
    /// try await store.set(Array("ready".utf8), forKey: "job/42")
    /// ```
    public func set(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>) async throws {
        try _checkLengths(key: key.count, value: value.count)
        let sequence = try withContiguousBytes(key) { k in try withContiguousBytes(value) { v in try engine.setWritten(key: k, value: v) } }
        try await engine.durable(sequence)
    }

    /// ``set(_:forKey:)-90u73`` with a `String` key and value, suspending while it is made durable.
    ///
    /// ```swift
    /// try await store.set("Ada", forKey: "user/1")
    /// ```
    public func set(_ value: String, forKey key: String) async throws {
        try await set(value.utf8, forKey: key.utf8)
    }

    /// ``set(_:forKey:)-90u73`` with a `String` key, suspending while it is made durable.
    ///
    /// ```swift
    /// try await store.set([1, 2, 3], forKey: "blob/7")
    /// ```
    public func set(_ value: some Collection<UInt8>, forKey key: String) async throws {
        try await set(value, forKey: key.utf8)
    }

    /// Removes the value stored for `key`, suspending while the removal is made durable.
    /// Returns whether there was one; removing an absent key writes nothing and does not wait.
    ///
    /// ```swift
    /// let existed = try await store.removeValue(forKey: Array("job/42".utf8))
    /// ```
    @discardableResult
    public func removeValue(forKey key: some Collection<UInt8>) async throws -> Bool {
        try Self.checkKey(key.count)
        let (existed, sequence) = try withContiguousBytes(key) { try engine.removeWritten(key: $0) }
        try await engine.durable(sequence)
        return existed
    }

    /// ``removeValue(forKey:)-piqe`` with a `String` key, suspending while it is made durable.
    ///
    /// ```swift
    /// try await store.removeValue(forKey: "job/42")
    /// ```
    @discardableResult
    public func removeValue(forKey key: String) async throws -> Bool {
        try await removeValue(forKey: key.utf8)
    }

    /// Runs a transaction as ``write(_:)-1h0hb`` does, then suspends while it is made durable.
    ///
    /// `body` runs synchronously while it holds the store's writer (it cannot `await`: other
    /// writers wait for it); only the wait for the disk afterwards suspends.
    ///
    /// ```swift
    /// let total = try await store.write { batch in
    ///     let n = (try batch.value(forKey: "count")).map { Int(String(decoding: $0, as: UTF8.self)) ?? 0 } ?? 0
    ///     batch.set(Array(String(n + 1).utf8), forKey: "count")
    ///     return n + 1
    /// }
    /// ```
    @discardableResult
    public func write<R>(_ body: (inout WriteBatch) throws -> R) async throws -> R {
        let (result, sequence) = try engine.transactionWritten(body)
        try await engine.durable(sequence)
        return result
    }

    /// ``update(forKey:_:)-11tki``, suspending while the change is made durable.
    ///
    /// ```swift
    /// try await store.update(forKey: Array("hits".utf8)) { old in Array(String((old.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0) + 1).utf8) }
    /// ```
    @discardableResult
    public func update(forKey key: some Collection<UInt8>, _ transform: ([UInt8]?) throws -> [UInt8]?) async throws -> [UInt8]? {
        let key = Array(key)
        return try await write { batch in try Self.update(&batch, key: key, transform) }
    }

    /// ``update(forKey:_:)-11tki`` with a `String` key, suspending while the change is made durable.
    ///
    /// ```swift
    /// try await store.update(forKey: "greeting") { _ in Array("hello".utf8) }
    /// ```
    @discardableResult
    public func update(forKey key: String, _ transform: ([UInt8]?) throws -> [UInt8]?) async throws -> [UInt8]? {
        try await update(forKey: key.utf8, transform)
    }

    /// Makes every write that returned before this call durable, suspending instead of blocking
    /// while the `fdatasync` runs (on the store's sync thread).
    ///
    /// ```swift
    /// try await store.sync()
    /// ```
    public func sync() async throws {
        try await engine.syncSuspending()
    }

    /// Closes the store as ``close()-8zwz6`` does, suspending instead of blocking while it syncs and
    /// marks the index clean (that work runs on the store's sync thread).
    ///
    /// ```swift
    /// try await store.close()
    /// ```
    public func close() async throws {
        try await engine.closeSuspending()
    }
}

extension Store.Cursor: AsyncSequence {
    /// Iterates a ``Store/Cursor`` with `for try await`: the same pairs, one at a time.
    ///
    /// ```swift
    /// for try await (key, value) in try store.entries() { print(key.count, value.count) }
    /// ```
    public struct AsyncIterator: AsyncIteratorProtocol {
        var cursor: Store.Cursor

        /// The next pair, or `nil` at the end.
        public mutating func next() async throws -> (key: [UInt8], value: [UInt8])? { try cursor.next() }
    }

    /// An iterator over the cursor's pairs.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(cursor: self) }
}

extension Store.KeyCursor: AsyncSequence {
    /// Iterates a ``Store/KeyCursor`` with `for try await`.
    ///
    /// ```swift
    /// for try await key in try store.keys() { print(key.count) }
    /// ```
    public struct AsyncIterator: AsyncIteratorProtocol {
        var cursor: Store.KeyCursor

        /// The next key, or `nil` at the end.
        public mutating func next() async throws -> [UInt8]? { try cursor.next() }
    }

    /// An iterator over the cursor's keys.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(cursor: self) }
}
