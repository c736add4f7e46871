// See FORMAT.md §1 "The STORE file".

/// The `STORE` file: what makes a directory a store. Written once, when the store is created.
///
/// ```
/// offset size field
///   0     8  magic        "KVSTORE\0"
///   8     2  formatMajor
///  10     2  formatMinor
///  12     4  reserved     zero
///  16     8  storeID      random; every segment, hint and index file carries it
///  24     8  hashSeed     random seed of the key hash used by the index
///  32     8  createdAt    seconds since 1970, informative
///  40     4  reserved     zero
///  44     4  checksum     CRC-32C of bytes 0 ..< 44
/// ```
struct Manifest: Equatable, Sendable {
    static let size = 48
    static let magic: [UInt8] = Array("KVSTORE\0".utf8)

    var storeID: UInt64
    var hashSeed: UInt64
    var createdAt: UInt64
    var formatMajor: UInt16 = FormatVersion.major
    var formatMinor: UInt16 = FormatVersion.minor

    func encode() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            raw.copyBytes(from: Self.magic)
            p.storeLE(formatMajor, at: 8)
            p.storeLE(formatMinor, at: 10)
            p.storeLE(storeID, at: 16)
            p.storeLE(hashSeed, at: 24)
            p.storeLE(createdAt, at: 32)
            p.storeLE(CRC32C.checksum(p, count: 44), at: 44)
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws(KVError) -> Manifest {
        guard bytes.count >= 8, bytes.prefix(8).elementsEqual(magic) else {
            throw KVError(.notAStore, "not a KVStore directory (the STORE file has no KVStore magic)", path: path)
        }
        guard bytes.count >= size else { throw .corruption("STORE file is truncated", path: path, offset: 0) }
        return try bytes.withBytes { raw throws(KVError) -> Manifest in
            let p = raw.baseAddress!
            // The checksum first: a flipped version byte is damage, not a newer format.
            guard CRC32C.checksum(p, count: 44) == p.loadLE(UInt32.self, at: 44) else {
                throw .corruption("STORE file checksum mismatch", path: path, offset: 0)
            }
            let major = p.loadLE(UInt16.self, at: 8)
            if major > FormatVersion.major {
                throw KVError(.incompatibleFormat, "store has format version \(major), this build reads \(FormatVersion.major)", path: path)
            }
            return Manifest(storeID: p.loadLE(UInt64.self, at: 16), hashSeed: p.loadLE(UInt64.self, at: 24),
                            createdAt: p.loadLE(UInt64.self, at: 32), formatMajor: major,
                            formatMinor: p.loadLE(UInt16.self, at: 10))
        }
    }
}
