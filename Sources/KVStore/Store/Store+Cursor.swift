extension Store {
    /// A throwing cursor over the live key-value pairs of a store, in no particular order.
    ///
    /// ```swift
    /// var cursor = try store.entries()
    /// while let (key, value) = try cursor.next() { … }
    /// ```
    /// The cursor reads the segment files sequentially and yields each record that is still the
    /// key's latest. Keys not written during the iteration are yielded exactly once, unless a
    /// compaction moves them meanwhile; a key set, removed or moved while the cursor runs may be
    /// missed or yielded twice.
    public struct Cursor {
        let state: CursorState

        /// The next pair, or `nil` at the end.
        /// - Throws: ``KVError/Code/corruption`` for a damaged record, ``KVError/Code/closed``.
        public mutating func next() throws -> (key: [UInt8], value: [UInt8])? {
            try state.next(wantValue: true).map { ($0.key, $0.value ?? []) }
        }
    }

    /// A throwing cursor over the live keys of a store, in no particular order. See ``Cursor``.
    public struct KeyCursor {
        let state: CursorState

        /// The next key, or `nil` at the end.
        public mutating func next() throws -> [UInt8]? {
            try state.next(wantValue: false).map { $0.key }
        }
    }

    /// A cursor over every live key and its value.
    public func entries() throws -> Cursor { Cursor(state: try CursorState(engine: engine)) }

    /// A cursor over every live key.
    public func keys() throws -> KeyCursor { KeyCursor(state: try CursorState(engine: engine)) }
}
