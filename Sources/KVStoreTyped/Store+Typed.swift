import Foundation
import KVStore

/// A coder for ``KVStore/Store/set(encoding:forKey:with:)``: `JSONEncoder` and
/// `PropertyListEncoder` are ones; so is any type of yours with these two methods.
public protocol ValueCoder {
    func encode<T: Encodable>(_ value: T) throws -> Data
    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T
}

/// JSON through Foundation's `JSONEncoder` and `JSONDecoder` (sorted keys, so that equal values
/// store equal bytes).
public struct JSONValueCoder: ValueCoder, Sendable {
    public init() {}
    public func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }
}

/// Binary property lists through Foundation's `PropertyListEncoder` (smaller than JSON for numbers).
public struct PropertyListValueCoder: ValueCoder, Sendable {
    public init() {}
    public func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .binary
        return try encoder.encode(value)
    }
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try PropertyListDecoder().decode(type, from: data)
    }
}

extension Store {
    /// Stores `value` (see ``StoredValue`` for its bytes) under `key`.
    public func set<V: StoredValue>(_ value: V, forKey key: String) throws {
        try set(value.storedBytes, forKey: key.utf8)
    }

    /// The value stored under `key` as a `V`; `nil` when the key is absent.
    /// - Throws: ``TypedValueError`` when the bytes are not a `V` (a wrong length, not UTF-8),
    ///   and the store's ``KVStore/KVError`` as for any get.
    public func value<V: StoredValue>(_ type: V.Type, forKey key: String) throws -> V? {
        try withValue(forKey: key.utf8) { try V(storedBytes: $0) }
    }

    /// The value stored under `key` as `Data`; `nil` when absent. (`set(_:forKey:)` takes `Data`
    /// as it takes any collection of bytes.)
    public func data(forKey key: String) throws -> Data? {
        try withValue(forKey: key.utf8) { Data($0) }
    }

    /// Stores `value` encoded by `coder` (JSON by default) under `key`.
    ///
    /// ```swift
    /// struct Session: Codable { var user: String; var expires: Date }
    /// try store.set(encoding: Session(user: "ada", expires: .now), forKey: "session/42")
    /// let session = try store.value(decoding: Session.self, forKey: "session/42")
    /// ```
    public func set<V: Encodable>(encoding value: V, forKey key: String, with coder: some ValueCoder = JSONValueCoder()) throws {
        try set(Array(try coder.encode(value)), forKey: key.utf8)
    }

    /// The value stored under `key`, decoded by `coder` (JSON by default); `nil` when absent.
    /// - Throws: the coder's `DecodingError` when the bytes are not a `V`.
    public func value<V: Decodable>(decoding type: V.Type, forKey key: String, with coder: some ValueCoder = JSONValueCoder()) throws -> V? {
        try withValue(forKey: key.utf8) { try coder.decode(type, from: Data($0)) }
    }

    /// Replaces the value of `key` with what `transform` makes of the current one, atomically
    /// (``KVStore/Store/update(forKey:_:)``), as a `V`: `nil` in is an absent key, `nil` out removes it.
    ///
    /// ```swift
    /// try store.update(Int.self, forKey: "visits") { ($0 ?? 0) + 1 }
    /// ```
    @discardableResult
    public func update<V: StoredValue>(_ type: V.Type, forKey key: String, _ transform: (V?) throws -> V?) throws -> V? {
        let new = try update(forKey: key.utf8) { old in
            let current = try old.map { bytes in try bytes.withUnsafeBytes { try V(storedBytes: $0) } }
            return try transform(current)?.storedBytes
        }
        return try new.map { bytes in try bytes.withUnsafeBytes { try V(storedBytes: $0) } }
    }
}

extension WriteBatch {
    /// Adds a set of `key` to `value` (see ``StoredValue``).
    public mutating func set<V: StoredValue>(_ value: V, forKey key: String) {
        set(value.storedBytes, forKey: key.utf8)
    }

    /// The value of `key` as this transaction sees it, as a `V`.
    public func value<V: StoredValue>(_ type: V.Type, forKey key: String) throws -> V? {
        try withValue(forKey: key.utf8) { try V(storedBytes: $0) }
    }
}
