/// Conveniences that take keys and values as `String`, stored as their UTF-8 bytes.
///
/// Keys compare by bytes, not by Unicode equivalence: "é" precomposed and "e" + U+0301 are
/// different keys.
extension Store {
    /// Stores `value`'s UTF-8 bytes for `key`'s UTF-8 bytes.
    public func set(_ value: String, forKey key: String) throws { try set(value.utf8, forKey: key.utf8) }
    /// Stores bytes for a `String` key.
    public func set(_ value: some Collection<UInt8>, forKey key: String) throws { try set(value, forKey: key.utf8) }
    /// The bytes stored for a `String` key.
    public func value(forKey key: String) throws -> [UInt8]? { try value(forKey: key.utf8) }
    /// The value stored for `key`, decoded as UTF-8 (invalid sequences are replaced).
    public func string(forKey key: String) throws -> String? {
        try withValue(forKey: key.utf8) { String(decoding: $0, as: UTF8.self) }
    }
    /// Calls `body` with the bytes stored for a `String` key.
    public func withValue<R>(forKey key: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try withValue(forKey: key.utf8, body)
    }
    /// Removes the value of a `String` key.
    @discardableResult
    public func removeValue(forKey key: String) throws -> Bool { try removeValue(forKey: key.utf8) }
    /// Whether a `String` key has a value.
    public func containsKey(_ key: String) throws -> Bool { try containsKey(key.utf8) }
}
