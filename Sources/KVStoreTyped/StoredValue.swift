import Foundation
import KVStore

/// A value that has one byte representation in a store: the fixed-width integers and `Double`
/// and `Float` (little-endian, their exact width) and `Bool` (one byte, 0 or 1). Strings are the
/// core's already (`set(_:forKey:)` and `string(forKey:)`, UTF-8), and so is `Data` in (any
/// collection of bytes); ``KVStore/Store/data(forKey:)`` reads it back. For anything else, use
/// ``KVStore/Store/set(encoding:forKey:with:)`` with a coder.
///
/// ```swift
/// try store.set(42, forKey: "answer")                        // 8 bytes, little-endian
/// let answer = try store.value(Int.self, forKey: "answer")   // 42
/// ```
public protocol StoredValue {
    /// The bytes stored for the value.
    var storedBytes: [UInt8] { get }
    /// The value stored as `bytes`; throws ``TypedValueError`` when they cannot be one.
    init(storedBytes bytes: UnsafeRawBufferPointer) throws
}

/// Why stored bytes are not a value of the type asked for.
public struct TypedValueError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The type asked for.
    public var type: String
    /// How many bytes were stored, and how many the type takes (`nil`: any number).
    public var storedCount: Int
    public var expectedCount: Int?
    public init(type: String, storedCount: Int, expectedCount: Int?) {
        self.type = type
        self.storedCount = storedCount
        self.expectedCount = expectedCount
    }

    public var description: String {
        "the stored value (\(storedCount) bytes) is not a \(type)" + (expectedCount.map { " (\($0) bytes)" } ?? "")
    }
}

extension StoredValue where Self: FixedWidthInteger {
    /// Little-endian, `bitWidth / 8` bytes.
    public var storedBytes: [UInt8] { withUnsafeBytes(of: littleEndian) { Array($0) } }
    public init(storedBytes bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == MemoryLayout<Self>.size else {
            throw TypedValueError(type: "\(Self.self)", storedCount: bytes.count, expectedCount: MemoryLayout<Self>.size)
        }
        self.init(littleEndian: bytes.loadUnaligned(as: Self.self))
    }
}

extension Int: StoredValue {}
extension Int8: StoredValue {}
extension Int16: StoredValue {}
extension Int32: StoredValue {}
extension Int64: StoredValue {}
extension UInt: StoredValue {}
extension UInt8: StoredValue {}
extension UInt16: StoredValue {}
extension UInt32: StoredValue {}
extension UInt64: StoredValue {}

extension Double: StoredValue {
    /// The IEEE 754 bit pattern, little-endian: 8 bytes; every value round-trips exactly (NaN
    /// payloads, signed zeros and infinities included).
    public var storedBytes: [UInt8] { bitPattern.storedBytes }
    public init(storedBytes bytes: UnsafeRawBufferPointer) throws {
        do { self.init(bitPattern: try UInt64(storedBytes: bytes)) } catch {
            throw TypedValueError(type: "Double", storedCount: bytes.count, expectedCount: 8)
        }
    }
}

extension Float: StoredValue {
    /// The IEEE 754 bit pattern, little-endian: 4 bytes.
    public var storedBytes: [UInt8] { bitPattern.storedBytes }
    public init(storedBytes bytes: UnsafeRawBufferPointer) throws {
        do { self.init(bitPattern: try UInt32(storedBytes: bytes)) } catch {
            throw TypedValueError(type: "Float", storedCount: bytes.count, expectedCount: 4)
        }
    }
}

extension Bool: StoredValue {
    /// One byte: 1 or 0.
    public var storedBytes: [UInt8] { [self ? 1 : 0] }
    public init(storedBytes bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == 1, bytes[0] <= 1 else { throw TypedValueError(type: "Bool", storedCount: bytes.count, expectedCount: 1) }
        self = bytes[0] == 1
    }
}
