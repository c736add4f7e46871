// See FORMAT.md §2 "Segment files".

/// The 32-byte header at the start of every segment file.
///
/// ```
/// offset size field
///   0     8  magic        "KVSEGMNT"
///   8     2  formatMajor
///  10     2  formatMinor
///  12     4  segmentID
///  16     8  storeID      links the segment to its store's STORE file
///  24     4  reserved     zero
///  28     4  checksum     CRC-32C of bytes 0 ..< 28
/// ```
struct SegmentHeader: Equatable, Sendable {
    static let size = 32
    static let magic: [UInt8] = Array("KVSEGMNT".utf8)

    var segmentID: UInt32
    var storeID: UInt64
    var formatMajor: UInt16 = FormatVersion.major
    var formatMinor: UInt16 = FormatVersion.minor

    func encode() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            raw.copyBytes(from: Self.magic)
            p.storeLE(formatMajor, at: 8)
            p.storeLE(formatMinor, at: 10)
            p.storeLE(segmentID, at: 12)
            p.storeLE(storeID, at: 16)
            p.storeLE(CRC32C.checksum(p, count: 28), at: 28)
        }
        return bytes
    }

    /// Decodes and validates a header; `path` only names the file in errors.
    static func decode(_ raw: UnsafeRawBufferPointer, path: String) throws(KVError) -> SegmentHeader {
        guard raw.count >= size, let p = raw.baseAddress else {
            throw .corruption("segment file is shorter than its header", path: path, offset: 0)
        }
        guard raw.prefix(8).elementsEqual(magic) else {
            throw .corruption("not a segment file (bad magic)", path: path, offset: 0)
        }
        // The checksum first: a flipped version byte is damage, not a newer format.
        guard CRC32C.checksum(p, count: 28) == p.loadLE(UInt32.self, at: 28) else {
            throw .corruption("segment header checksum mismatch", path: path, offset: 0)
        }
        let major = p.loadLE(UInt16.self, at: 8)
        if major > FormatVersion.major {
            throw KVError(.incompatibleFormat, "segment has format version \(major), this build reads \(FormatVersion.major)", path: path)
        }
        return SegmentHeader(segmentID: p.loadLE(UInt32.self, at: 12), storeID: p.loadLE(UInt64.self, at: 16),
                             formatMajor: major, formatMinor: p.loadLE(UInt16.self, at: 10))
    }
}
