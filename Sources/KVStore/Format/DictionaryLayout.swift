// See FORMAT.md §3.2 "Compression" and §1 for the file.

/// The bytes of a dictionary file (`NNNNNNNN.dict`): where one is encoded and where its bytes
/// from disk are checked.
///
/// ```
/// header (40 bytes)
///   0  8  magic          "KVDICT1\0"
///   8  2  formatMajor
///  10  2  formatMinor
///  12  4  dictionaryID   1 ..< 65,536, equals the number in the file name
///  16  8  storeID
///  24  4  length         bytes of dictionary, 1 ... 65,536
///  28  4  firstSegment   the active segment when it was made: no record before it uses it
///  32  4  trainedOn      values it was made from (informative)
///  36  4  reserved       zero
/// dictionary [length]
/// checksum (4 bytes)     CRC-32C of every byte before it
/// ```
enum DictionaryLayout {
    static let magic: [UInt8] = Array("KVDICT1\0".utf8)
    static let headerSize = 40
    /// LZ4 refers back at most 64 KiB: a longer dictionary would never be used past that.
    static let maximumLength = 1 << 16

    struct Contents: Equatable {
        var id: UInt16
        var storeID: UInt64
        var firstSegment: UInt32
        var trainedOn: Int
        var bytes: [UInt8]
    }

    static func encode(_ contents: Contents) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: headerSize + contents.bytes.count + 4)
        out.withMutableBytes { raw in
            let p = raw.baseAddress!
            magic.withBytes { p.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            p.storeLE(FormatVersion.major, at: 8)
            p.storeLE(FormatVersion.minor, at: 10)
            p.storeLE(UInt32(contents.id), at: 12)
            p.storeLE(contents.storeID, at: 16)
            p.storeLE(UInt32(contents.bytes.count), at: 24)
            p.storeLE(contents.firstSegment, at: 28)
            p.storeLE(UInt32(clamping: contents.trainedOn), at: 32)
            contents.bytes.withBytes { if $0.count > 0 { (p + headerSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            let end = headerSize + contents.bytes.count
            p.storeLE(CRC32C.checksum(p, count: end), at: end)
        }
        return out
    }

    /// The dictionary in `bytes`, read from `path`, when every check passes; else why not, as the
    /// `.corruption` (or, for a newer major version, `.incompatibleFormat`) it makes a read throw.
    static func decode(_ bytes: [UInt8], path: String, id: UInt16, storeID: UInt64) throws(KVError) -> Contents {
        try bytes.withBytes { (raw) throws(KVError) -> Contents in
            func damaged(_ why: String) -> KVError { .corruption("dictionary \(id) is damaged: \(why)", path: path, offset: 0) }
            guard raw.count >= headerSize + 4, let p = raw.baseAddress else { throw damaged("shorter than its header") }
            guard raw.prefix(8).elementsEqual(magic) else { throw damaged("not a dictionary file") }
            let major = p.loadLE(UInt16.self, at: 8)
            guard major <= FormatVersion.major else {
                throw KVError(.incompatibleFormat, "dictionary \(id) has format major version \(major)", path: path, offset: 8)
            }
            let length = Int(p.loadLE(UInt32.self, at: 24))
            guard length >= 1, length <= maximumLength, raw.count == headerSize + length + 4 else {
                throw damaged("its length (\(length)) does not match the file (\(raw.count) bytes)")
            }
            guard CRC32C.checksum(p, count: headerSize + length) == p.loadLE(UInt32.self, at: headerSize + length) else {
                throw damaged("checksum mismatch")
            }
            guard p.loadLE(UInt32.self, at: 12) == UInt32(id), p.loadLE(UInt64.self, at: 16) == storeID else {
                throw damaged("it belongs to another store or dictionary")
            }
            return Contents(id: id, storeID: storeID, firstSegment: p.loadLE(UInt32.self, at: 28),
                            trainedOn: Int(p.loadLE(UInt32.self, at: 32)),
                            bytes: Array(raw[headerSize ..< headerSize + length]))
        }
    }
}
