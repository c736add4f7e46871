#if canImport(Glibc)
import Glibc
#endif

// See FORMAT.md §3 "Records" for the normative description.

/// What a record means.
enum RecordKind: UInt8, Sendable {
    /// Sets `key` to `value`.
    case put = 1
    /// Removes `key` (a tombstone).
    case delete = 2
    /// Starts an atomic batch: its value is the number of records that follow and belong to it.
    case batch = 3
}

/// The fixed 32-byte header in front of every record.
///
/// ```
/// offset size field
///   0     4  checksum           CRC-32C of bytes 4 ..< 32+keyLength+storedValueLength
///   4     1  kind               1 put, 2 delete, 3 batch
///   5     1  flags              bit 0: value is LZ4-compressed; bit 1: against a dictionary;
///                               other bits zero
///   6     2  dictionaryID       the dictionary of a bit-1 value (1 ..< 65,536); else zero
///   8     8  sequence
///  16     4  keyLength
///  20     4  storedValueLength  bytes of value on disk
///  24     4  rawValueLength     bytes of value after decompression (= stored when not compressed)
///  28     4  reserved           zero
/// ```
/// Bytes 0 ..< 8 form the *commit word*. A writer stores it last, with one aligned 8-byte store:
/// a word of zero means "no record here", so a record is either wholly visible or not at all.
struct RecordHeader: Equatable, Sendable {
    static let size = 32
    static let compressedFlag: UInt8 = 1
    /// Set with ``compressedFlag``: the value was compressed against dictionary ``dictionaryID``
    /// (FORMAT.md §3.2; incompatible feature `dictionaries`).
    static let dictionaryFlag: UInt8 = 2
    static let knownFlags = compressedFlag | dictionaryFlag

    var kind: RecordKind
    var flags: UInt8
    var sequence: UInt64
    var keyLength: Int
    var storedValueLength: Int
    var rawValueLength: Int
    /// The dictionary a value was compressed against; 0 for none.
    var dictionaryID: UInt16 = 0

    var isCompressed: Bool { flags & Self.compressedFlag != 0 }
    /// Header, key and value; the next record starts at ``alignedLength``.
    var length: Int { Self.size + keyLength + storedValueLength }
    var alignedLength: Int { alignedTo8(length) }

    /// Writes bytes 8 ..< 32. The commit word (bytes 0 ..< 8) is returned by ``commitWord(checksum:)``.
    func encodeBody(into p: UnsafeMutableRawPointer) {
        p.storeLE(sequence, at: 8)
        p.storeLE(UInt32(keyLength), at: 16)
        p.storeLE(UInt32(storedValueLength), at: 20)
        p.storeLE(UInt32(rawValueLength), at: 24)
        p.storeLE(UInt32(0), at: 28)
    }

    /// The first 8 bytes, as one little-endian word: checksum, kind, flags, dictionary id.
    func commitWord(checksum: UInt32) -> UInt64 {
        UInt64(checksum) | UInt64(kind.rawValue) << 32 | UInt64(flags) << 40 | UInt64(dictionaryID) << 48
    }

    /// The checksum of a record whose bytes 4 ..< length are in place at `p`. Bytes 4 ..< 8
    /// (kind, flags, dictionary id) are not yet stored while a record is being written, so they
    /// are folded in from the header values.
    func checksum(recordAt p: UnsafeRawPointer) -> UInt32 {
        var prefix: UInt32 = UInt32(kind.rawValue) | UInt32(flags) << 8 | UInt32(dictionaryID) << 16
        prefix = prefix.littleEndian
        let crc = withUnsafeBytes(of: &prefix) { CRC32C.checksum($0) }
        return CRC32C.extend(crc, p + 8, count: length - 8)
    }
}

/// What is found at a position in a segment.
enum RecordParse: Equatable {
    /// A complete record whose checksum matches.
    case record(RecordHeader)
    /// A zero commit word: the end of the written log.
    case end
    /// Bytes that are not a valid record: torn at the tail of the active segment, corruption anywhere else.
    case invalid(String)
}

extension RecordHeader {
    /// Decodes and verifies the record at `p`, of which `available` bytes were read.
    /// Every length is bounds-checked before it is used: bytes from disk never trap.
    static func parse(_ p: UnsafeRawPointer, available: Int) -> RecordParse {
        if available < 8 {
            return available == 0 || (0..<available).allSatisfy({ p.load(fromByteOffset: $0, as: UInt8.self) == 0 })
                ? .end : .invalid("truncated record header")
        }
        if p.loadLE(UInt64.self, at: 0) == 0 { return .end }
        if available < size { return .invalid("truncated record header") }
        guard let kind = RecordKind(rawValue: p.loadLE(UInt8.self, at: 4)) else { return .invalid("unknown record kind") }
        let flags = p.loadLE(UInt8.self, at: 5)
        let dictionaryID = p.loadLE(UInt16.self, at: 6)
        guard flags & ~knownFlags == 0, p.loadLE(UInt32.self, at: 28) == 0 else {
            return .invalid("reserved header bits set")
        }
        // A dictionary only for a compressed value, and then a dictionary id.
        guard flags & dictionaryFlag == 0 ? dictionaryID == 0 : (flags & compressedFlag != 0 && dictionaryID != 0) else {
            return .invalid("impossible dictionary in record header")
        }
        let keyLength = Int(p.loadLE(UInt32.self, at: 16))
        let stored = Int(p.loadLE(UInt32.self, at: 20))
        let raw = Int(p.loadLE(UInt32.self, at: 24))
        let compressed = flags & compressedFlag != 0
        switch kind {
        case .put:
            guard keyLength >= 1, keyLength <= Limits.maximumKeyLength, raw <= Limits.maximumValueLength,
                  stored <= Limits.maximumValueLength, compressed || stored == raw
            else { return .invalid("impossible lengths in record header") }
        case .delete:
            guard keyLength >= 1, keyLength <= Limits.maximumKeyLength, stored == 0, raw == 0, !compressed
            else { return .invalid("impossible lengths in record header") }
        case .batch:
            guard keyLength == 0, stored == 8, raw == 8, !compressed
            else { return .invalid("impossible lengths in batch header") }
        }
        let header = RecordHeader(kind: kind, flags: flags, sequence: p.loadLE(UInt64.self, at: 8),
                                  keyLength: keyLength, storedValueLength: stored, rawValueLength: raw, dictionaryID: dictionaryID)
        if available < header.length { return .invalid("truncated record") }
        let expected = p.loadLE(UInt32.self, at: 0)
        if CRC32C.checksum(p + 4, count: header.length - 4) != expected { return .invalid("checksum mismatch") }
        return .record(header)
    }

    /// The lengths a record header claims, before its checksum is known.
    struct Lengths {
        var keyLength: Int
        var recordLength: Int
    }

    /// Reads the lengths of the header at `p` when they are within the format's limits; `nil` for
    /// bytes that cannot start a record. Only sizes a read: ``parse(_:available:)`` verifies.
    static func lengths(_ p: UnsafeRawPointer, available: Int) -> Lengths? {
        guard available >= size, p.loadLE(UInt64.self, at: 0) != 0 else { return nil }
        let keyLength = Int(p.loadLE(UInt32.self, at: 16))
        let stored = Int(p.loadLE(UInt32.self, at: 20))
        guard keyLength <= Limits.maximumKeyLength, stored <= Limits.maximumValueLength else { return nil }
        return Lengths(keyLength: keyLength, recordLength: size + keyLength + stored)
    }

    /// The sequence number of the record header at `p` (at least 16 bytes), before any check.
    static func storedSequence(_ p: UnsafeRawPointer) -> UInt64 {
        p.loadLE(UInt64.self, at: 8)
    }

    /// The header's claimed length (header, key, stored value), before any check; for sizing a read.
    static func claimedLength(_ p: UnsafeRawPointer) -> Int {
        size + Int(p.loadLE(UInt32.self, at: 16)) + Int(p.loadLE(UInt32.self, at: 20))
    }

    /// The length a header claims when its kind, flags, reserved fields and lengths could be a
    /// record's: cheap checks before reading a candidate whole (resynchronization, salvage).
    static func plausibleLength(_ p: UnsafeRawPointer, available: Int) -> Int? {
        guard available >= size, RecordKind(rawValue: p.loadLE(UInt8.self, at: 4)) != nil,
              p.loadLE(UInt8.self, at: 5) & ~knownFlags == 0,
              (p.loadLE(UInt16.self, at: 6) == 0) == (p.loadLE(UInt8.self, at: 5) & dictionaryFlag == 0),
              p.loadLE(UInt32.self, at: 28) == 0 else { return nil }
        let key = Int(p.loadLE(UInt32.self, at: 16)), stored = Int(p.loadLE(UInt32.self, at: 20))
        guard key <= Limits.maximumKeyLength, stored <= Limits.maximumValueLength else { return nil }
        return size + key + stored
    }

    /// Whether the record in `record` (its header and at least its key) carries `key`.
    @inline(__always)
    static func keyMatches(_ record: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer) -> Bool {
        guard record.count >= size + key.count,
              Int(record.baseAddress!.loadLE(UInt32.self, at: 16)) == key.count else { return false }
        return key.count == 0 || memcmp(record.baseAddress! + size, key.baseAddress!, key.count) == 0
    }

    /// A batch header whose commit word was never written (the batch was being written when the
    /// writer stopped): its `(sequence, count)`, from at least 40 bytes at `p`.
    static func uncommittedBatch(_ p: UnsafeRawPointer) -> (sequence: UInt64, count: Int)? {
        let sequence = p.loadLE(UInt64.self, at: 8)
        let count = Int(p.loadLE(UInt32.self, at: 32))
        guard p.loadLE(UInt64.self, at: 0) == 0, sequence != 0, p.loadLE(UInt32.self, at: 16) == 0, p.loadLE(UInt32.self, at: 20) == 8,
              p.loadLE(UInt32.self, at: 24) == 8, p.loadLE(UInt32.self, at: 28) == 0, count > 0,
              p.loadLE(UInt32.self, at: 36) == 0 else { return nil }
        return (sequence, count)
    }

    /// Every field of the header at `p` as stored, unchecked (for showing damaged records).
    struct StoredFields {
        var checksum: UInt32
        var kind: UInt8
        var flags: UInt8
        var sequence: UInt64
        var keyLength: Int
        var storedValueLength: Int
        var rawValueLength: Int
        var dictionaryID: UInt16
    }

    static func storedFields(_ p: UnsafeRawPointer) -> StoredFields {
        StoredFields(checksum: p.loadLE(UInt32.self, at: 0), kind: p.loadLE(UInt8.self, at: 4), flags: p.loadLE(UInt8.self, at: 5),
                     sequence: p.loadLE(UInt64.self, at: 8), keyLength: Int(p.loadLE(UInt32.self, at: 16)),
                     storedValueLength: Int(p.loadLE(UInt32.self, at: 20)), rawValueLength: Int(p.loadLE(UInt32.self, at: 24)),
                     dictionaryID: p.loadLE(UInt16.self, at: 6))
    }

    /// Whether the 8 bytes at `p` are a zero commit word: no record here.
    static func isUnwritten(_ p: UnsafeRawPointer) -> Bool { p.loadLE(UInt64.self, at: 0) == 0 }

    /// The member count of a parsed batch record.
    static func batchCount(_ p: UnsafeRawPointer) -> Int {
        Int(p.loadLE(UInt32.self, at: size))
    }
}
