// See FORMAT.md §2.1 "The STORE file" and §9 "Versioning".

/// The `STORE` file: what makes a directory a store. Written once, when the store is created.
///
/// ```
/// offset size field
///   0     8  magic                       "KVSTORE\0"
///   8     2  formatMajor
///  10     2  formatMinor
///  12     4  incompatibleFeatures        a build refuses a store with a bit it does not know
///  16     8  storeID                     random; every segment, hint and index file carries it
///  24     8  hashSeed                    random seed of the key hash used by the index
///  32     8  createdAt                   seconds since 1970, informative
///  40     2  compatibleFeatures          unknown bits are ignored
///  42     2  readOnlyCompatibleFeatures  a build opens a store with a bit it does not know only read-only
///  44     4  checksum                    CRC-32C of bytes 0 ..< 44
/// ```
///
/// The feature fields were reserved and zero in 1.0: every store written before them has no
/// feature, and its bytes are unchanged.
struct Manifest: Equatable, Sendable {
    static let size = 48
    static let magic: [UInt8] = Array("KVSTORE\0".utf8)

    /// Field offsets (FORMAT.md §2.1).
    enum Offset {
        static let formatMajor = 8
        static let formatMinor = 10
        static let incompatibleFeatures = 12
        static let storeID = 16
        static let hashSeed = 24
        static let createdAt = 32
        static let compatibleFeatures = 40
        static let readOnlyCompatibleFeatures = 42
        static let checksum = 44
    }

    var storeID: UInt64
    var hashSeed: UInt64
    var createdAt: UInt64
    var formatMajor: UInt16 = FormatVersion.major
    var formatMinor: UInt16 = FormatVersion.minor
    var incompatibleFeatures: UInt32 = 0
    var compatibleFeatures: UInt16 = 0
    var readOnlyCompatibleFeatures: UInt16 = 0

    func encode() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            raw.copyBytes(from: Self.magic)
            p.storeLE(formatMajor, at: Offset.formatMajor)
            p.storeLE(formatMinor, at: Offset.formatMinor)
            p.storeLE(incompatibleFeatures, at: Offset.incompatibleFeatures)
            p.storeLE(storeID, at: Offset.storeID)
            p.storeLE(hashSeed, at: Offset.hashSeed)
            p.storeLE(createdAt, at: Offset.createdAt)
            p.storeLE(compatibleFeatures, at: Offset.compatibleFeatures)
            p.storeLE(readOnlyCompatibleFeatures, at: Offset.readOnlyCompatibleFeatures)
            p.storeLE(CRC32C.checksum(p, count: Offset.checksum), at: Offset.checksum)
        }
        return bytes
    }

    /// Parses and checks a `STORE` file: magic, length, checksum, then the major version. The
    /// feature flags are read but not judged here (tools describe a store they cannot open):
    /// whoever opens the store calls ``checkFeatures(readOnly:path:)``.
    static func decode(_ bytes: [UInt8], path: String) throws(KVError) -> Manifest {
        guard bytes.count >= 8, bytes.prefix(8).elementsEqual(magic) else {
            throw KVError(.notAStore, "not a KVStore directory (the STORE file has no KVStore magic)", path: path)
        }
        guard bytes.count >= size else { throw .corruption("STORE file is truncated", path: path, offset: 0) }
        return try bytes.withBytes { raw throws(KVError) -> Manifest in
            let p = raw.baseAddress!
            // The checksum first: a flipped version or feature bit is damage, not a newer format.
            guard CRC32C.checksum(p, count: Offset.checksum) == p.loadLE(UInt32.self, at: Offset.checksum) else {
                throw .corruption("STORE file checksum mismatch", path: path, offset: 0)
            }
            let major = p.loadLE(UInt16.self, at: Offset.formatMajor)
            if major > FormatVersion.major {
                throw KVError(.incompatibleFormat, "store has format version \(major), this build reads \(FormatVersion.major)", path: path)
            }
            return Manifest(storeID: p.loadLE(UInt64.self, at: Offset.storeID), hashSeed: p.loadLE(UInt64.self, at: Offset.hashSeed),
                            createdAt: p.loadLE(UInt64.self, at: Offset.createdAt), formatMajor: major,
                            formatMinor: p.loadLE(UInt16.self, at: Offset.formatMinor),
                            incompatibleFeatures: p.loadLE(UInt32.self, at: Offset.incompatibleFeatures),
                            compatibleFeatures: p.loadLE(UInt16.self, at: Offset.compatibleFeatures),
                            readOnlyCompatibleFeatures: p.loadLE(UInt16.self, at: Offset.readOnlyCompatibleFeatures))
        }
    }

    /// The incompatible features this build does not know (a non-zero result refuses the store).
    var unknownIncompatibleFeatures: UInt32 { incompatibleFeatures & ~Features.knownIncompatible }
    /// The read-only-compatible features this build does not know (non-zero: read-only opens only).
    var unknownReadOnlyCompatibleFeatures: UInt16 { readOnlyCompatibleFeatures & ~Features.knownReadOnlyCompatible }

    /// Decides whether this build may open the store (FORMAT.md §9), before anything in the
    /// directory is changed: an unknown incompatible feature refuses every open, an unknown
    /// read-only-compatible one refuses a writable open; unknown compatible features are ignored.
    /// - Throws: ``KVError/Code/incompatibleFormat`` naming the unknown bits.
    /// `knownIncompatible` is this build's set; a test passes an older build's.
    func checkFeatures(readOnly: Bool, path: String, knownIncompatible: UInt32 = Features.knownIncompatible) throws(KVError) {
        let incompatible = incompatibleFeatures & ~knownIncompatible
        if incompatible != 0 {
            throw KVError(.incompatibleFormat, "store uses incompatible features this build does not know: incompatibleFeatures "
                          + Features.describe(UInt64(incompatible), hexDigits: 8) + "; it cannot be opened by this build",
                          path: path)
        }
        let readOnlyCompatible = unknownReadOnlyCompatibleFeatures
        if readOnlyCompatible != 0 && !readOnly {
            throw KVError(.incompatibleFormat, "store uses read-only-compatible features this build does not know: "
                          + "readOnlyCompatibleFeatures " + Features.describe(UInt64(readOnlyCompatible), hexDigits: 4)
                          + "; this build can open it read-only (Configuration.readOnly = true), not for writing",
                          path: path)
        }
    }
}
