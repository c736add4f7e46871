// See FORMAT.md §5 "Hint files".

/// The bytes of a hint file: its header, its entries in either layout, its trailer. Where a hint
/// entry is encoded and where hint bytes from disk are checked; ``HintFile`` does the I/O.
///
/// ```
/// header (32 bytes, both layouts)
///   0  8  magic        "KVHINT2\0" (compact, 1.1) or "KVHINTS\0" (padded, 1.0)
///   8  2  formatMajor
///  10  2  formatMinor
///  12  4  segmentID
///  16  8  storeID
///  24  4  entryCount
///  28  4  dataEnd      where the segment's records end
/// compact entry (18 bytes + key), written since 1.1
///   0  8  sequence
///   8  4  offset       of the record in the segment
///  12  4  length       bits 0-30: the record's length (header + key + stored value); bit 31: delete
///  16  2  keyLength - 1
///  18  …  key
/// padded entry (24 bytes + key, padded to a multiple of 8), written by 1.0, still read
///   0  8  sequence   8  4  offset   12  4  length   16  4  keyLength   20  1  kind   21  3  zero
///  24  …  key, zero padding
/// trailer (8 bytes)
///   0  4  checksum     CRC-32C of every byte before the trailer
///   4  4  magic        "HEND"
/// ```
enum HintLayout: Sendable {
    /// 18 bytes + key per entry (FORMAT.md 1.1).
    case compact
    /// 24 bytes + key, padded to 8, per entry (FORMAT.md 1.0).
    case padded

    static let compactMagic: [UInt8] = Array("KVHINT2\0".utf8)
    static let paddedMagic: [UInt8] = Array("KVHINTS\0".utf8)
    static let trailerMagic: [UInt8] = Array("HEND".utf8)
    static let headerSize = 32
    static let trailerSize = 8
    static let compactEntrySize = 18
    static let paddedEntrySize = 24
    /// Bit 31 of a compact entry's length word: the record is a delete.
    static let deleteBit: UInt32 = 1 << 31

    /// The header fields.
    struct Header: Sendable {
        var layout: HintLayout
        var segmentID: UInt32
        var storeID: UInt64
        var entryCount: Int
        var dataEnd: Int
    }

    /// One entry: where its key is in the hint's bytes.
    struct Entry: Sendable {
        var sequence: UInt64
        var offset: Int
        var length: Int
        var kind: RecordKind
        var keyStart: Int
        var keyLength: Int
    }

    /// Bytes of a compact entry for a key of `keyLength` bytes.
    @inline(__always) static func compactSize(keyLength: Int) -> Int { compactEntrySize + keyLength }

    /// Appends a compact entry at the end of `out`.
    static func appendCompact(to out: inout [UInt8], sequence: UInt64, offset: Int, length: Int, kind: RecordKind,
                              key: UnsafeRawBufferPointer) {
        precondition(key.count >= 1 && key.count <= Limits.maximumKeyLength && length < Int(deleteBit) && kind != .batch)
        let at = out.count
        out.append(contentsOf: repeatElement(0, count: compactSize(keyLength: key.count)))
        out.withUnsafeMutableBytes { e in
            let p = e.baseAddress! + at
            p.storeLE(sequence, at: 0)
            p.storeLE(UInt32(offset), at: 8)
            p.storeLE(UInt32(length) | (kind == .delete ? deleteBit : 0), at: 12)
            p.storeLE(UInt16(key.count - 1), at: 16)
            (p + compactEntrySize).copyMemory(from: key.baseAddress!, byteCount: key.count)
        }
    }

    /// Fills in the header at the start of `out` and appends the trailer.
    static func finish(_ out: inout [UInt8], segmentID: UInt32, storeID: UInt64, entryCount: Int, dataEnd: Int) {
        out.withUnsafeMutableBytes { h in
            let p = h.baseAddress!
            h.copyBytes(from: compactMagic)
            p.storeLE(FormatVersion.major, at: 8)
            p.storeLE(FormatVersion.minor, at: 10)
            p.storeLE(segmentID, at: 12)
            p.storeLE(storeID, at: 16)
            p.storeLE(UInt32(entryCount), at: 24)
            p.storeLE(UInt32(dataEnd), at: 28)
        }
        let crc = CRC32C.checksum(out)
        out.append(contentsOf: withUnsafeBytes(of: crc.littleEndian) { Array($0) })
        out.append(contentsOf: trailerMagic)
    }

    /// Checks the magic, trailer, checksum, version and ids of hint bytes and returns the header.
    /// Entries are checked by ``forEachEntry(in:header:path:_:)``.
    static func header(of raw: UnsafeRawBufferPointer, path: String, segmentID: UInt32, storeID: UInt64) throws(KVError) -> Header {
        let fail = { (reason: String, offset: Int) -> KVError in .corruption("hint file: " + reason, path: path, offset: Int64(offset)) }
        guard raw.count >= headerSize + trailerSize, let p = raw.baseAddress else { throw fail("too short", 0) }
        let layout: HintLayout
        if raw.prefix(8).elementsEqual(compactMagic) { layout = .compact }
        else if raw.prefix(8).elementsEqual(paddedMagic) { layout = .padded }
        else { throw fail("bad magic", 0) }
        let bodyEnd = raw.count - trailerSize
        guard raw[bodyEnd + 4 ..< raw.count].elementsEqual(trailerMagic) else { throw fail("missing trailer", bodyEnd) }
        guard CRC32C.checksum(p, count: bodyEnd) == p.loadLE(UInt32.self, at: bodyEnd) else { throw fail("checksum mismatch", bodyEnd) }
        let major = p.loadLE(UInt16.self, at: 8)
        guard major <= FormatVersion.major else {
            throw KVError(.incompatibleFormat, "hint file has format version \(major)", path: path)
        }
        guard p.loadLE(UInt32.self, at: 12) == segmentID, p.loadLE(UInt64.self, at: 16) == storeID else {
            throw fail("hint file belongs to another segment or store", 12)
        }
        return Header(layout: layout, segmentID: segmentID, storeID: storeID,
                      entryCount: Int(p.loadLE(UInt32.self, at: 24)), dataEnd: Int(p.loadLE(UInt32.self, at: 28)))
    }

    /// Calls `body` with every entry, in segment order, checking each: a kind of put or delete, a
    /// key length within the limits, a record inside `dataEnd` and after the previous one, and
    /// entries that end exactly at the trailer. Bytes from disk never trap here.
    static func forEachEntry(in raw: UnsafeRawBufferPointer, header: Header, path: String,
                             _ body: (Entry) throws(KVError) -> Void) throws(KVError) {
        let fail = { (reason: String, offset: Int) -> KVError in .corruption("hint file: " + reason, path: path, offset: Int64(offset)) }
        guard let p = raw.baseAddress, raw.count >= headerSize + trailerSize else { throw fail("too short", 0) }
        let bodyEnd = raw.count - trailerSize
        var at = headerSize
        var previousEnd = SegmentHeader.size
        for _ in 0..<header.entryCount {
            let entry: Entry
            switch header.layout {
            case .compact:
                guard at + compactEntrySize <= bodyEnd else { throw fail("entry past the end", at) }
                let word = p.loadLE(UInt32.self, at: at + 12)
                let keyLength = Int(p.loadLE(UInt16.self, at: at + 16)) + 1
                guard at + compactEntrySize + keyLength <= bodyEnd else { throw fail("bad entry", at) }
                entry = Entry(sequence: p.loadLE(UInt64.self, at: at), offset: Int(p.loadLE(UInt32.self, at: at + 8)),
                              length: Int(word & ~deleteBit), kind: word & deleteBit != 0 ? .delete : .put,
                              keyStart: at + compactEntrySize, keyLength: keyLength)
                at += compactEntrySize + keyLength
            case .padded:
                guard at + paddedEntrySize <= bodyEnd else { throw fail("entry past the end", at) }
                let keyLength = Int(p.loadLE(UInt32.self, at: at + 16))
                guard let kind = RecordKind(rawValue: p.loadLE(UInt8.self, at: at + 20)), kind != .batch,
                      keyLength >= 1, keyLength <= Limits.maximumKeyLength,
                      at + paddedEntrySize + keyLength <= bodyEnd else { throw fail("bad entry", at) }
                entry = Entry(sequence: p.loadLE(UInt64.self, at: at), offset: Int(p.loadLE(UInt32.self, at: at + 8)),
                              length: Int(p.loadLE(UInt32.self, at: at + 12)), kind: kind,
                              keyStart: at + paddedEntrySize, keyLength: keyLength)
                at += paddedEntrySize + alignedTo8(keyLength)
            }
            // Records of a segment are in order and do not overlap (batch headers lie between).
            guard entry.offset >= previousEnd, entry.offset % 8 == 0, entry.length >= RecordHeader.size + entry.keyLength,
                  entry.offset + entry.length <= header.dataEnd else { throw fail("entry points outside the segment", at) }
            previousEnd = entry.offset + entry.length
            try body(entry)
        }
        guard at == bodyEnd else { throw fail("trailing bytes", at) }
    }
}
