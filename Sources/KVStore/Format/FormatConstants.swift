// See FORMAT.md for the normative description of every file. The constants here are named as
// the fields there are.

/// Versions of the on-disk format (FORMAT.md §9). A reader accepts files with its own major
/// version and any minor version (the `STORE` file's feature flags, not the minor version, say
/// whether this build can use a store); a larger major version is refused with
/// ``KVError/Code/incompatibleFormat``.
enum FormatVersion {
    static let major: UInt16 = 1
    static let minor: UInt16 = 2
}

/// The feature flags of the `STORE` file (FORMAT.md §2.1, §9), in three sets modelled on ext4's:
/// a build refuses a store with an *incompatible* feature it does not know, opens one with an
/// unknown *read-only-compatible* feature only read-only, and ignores unknown *compatible* ones.
/// A feature's bit is added to the set it belongs to here when this build implements it.
enum Features {
    /// Incompatible features this build implements.
    static let knownIncompatible: UInt32 = dictionaries
    /// Read-only-compatible features this build implements: none yet.
    static let knownReadOnlyCompatible: UInt16 = 0
    /// Compatible features this build implements (unknown ones are ignored anyway).
    static let knownCompatible: UInt16 = compactHints

    /// Compatible bit 0, since 1.1: the store may hold hint files of the compact layout
    /// (``HintLayout/compact``). Builds before 1.1 do not recognize them and scan those segments
    /// instead; set before the first such file is written.
    static let compactHints: UInt16 = 1 << 0

    /// Incompatible bit 0, since 1.2: records may be compressed against a dictionary file of the
    /// store (record flag bit 1, FORMAT.md §3.2), which a build before it would take for damage.
    /// Set before the first dictionary file is written.
    static let dictionaries: UInt32 = 1 << 0

    /// "bit 3 (0x00000008)", "bits 0, 17 (0x00020001)": the set bits of `flags`, for messages.
    static func describe(_ flags: UInt64, hexDigits: Int) -> String {
        var bits: [String] = []
        for bit in 0..<64 where flags & (1 << UInt64(bit)) != 0 { bits.append(String(bit)) }
        let hex = String(flags, radix: 16)
        let padded = String(repeating: "0", count: max(0, hexDigits - hex.count)) + hex
        return (bits.count == 1 ? "bit " : "bits ") + bits.joined(separator: ", ") + " (0x" + padded + ")"
    }
}

/// File names inside a store directory (FORMAT.md §1).
enum FileNames {
    static let manifest = "STORE"
    static let lock = "LOCK"
    static let index = "index"
    static let temporarySuffix = ".tmp"
    static let segmentSuffix = ".seg"
    static let hintSuffix = ".hint"
    static let dictionarySuffix = ".dict"
    /// A segment set aside by recovery because it lies after the point where a power loss cut the log.
    static let lostSuffix = ".lost"

    static func segment(_ id: UInt32) -> String { digits(id) + segmentSuffix }
    static func hint(_ id: UInt32) -> String { digits(id) + hintSuffix }
    static func dictionary(_ id: UInt16) -> String { digits(UInt32(id)) + dictionarySuffix }

    /// Parses `00000003.dict` back to 3; `nil` for any other name.
    static func dictionaryID(of name: String) -> UInt16? {
        guard name.hasSuffix(dictionarySuffix) else { return nil }
        let stem = name.dropLast(dictionarySuffix.count)
        guard stem.count == 8, stem.allSatisfy({ $0.isASCII && $0.isNumber }), let id = UInt16(stem), id >= 1 else { return nil }
        return id
    }

    /// Parses `00000042.seg` or `00000042.hint` back to 42; `nil` for any other name.
    static func segmentID(of name: String, suffix: String) -> UInt32? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        guard stem.count == 8, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        // Larger numbers cannot be addressed by the index: not one of ours.
        guard let id = UInt32(stem), id >= 1, id <= Limits.maximumSegmentID else { return nil }
        return id
    }

    private static func digits(_ id: UInt32) -> String {
        let s = String(id)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}

/// Hard limits of format version 1.
enum Limits {
    static let maximumKeyLength = 64 * 1024
    static let maximumValueLength = 1 << 30
    /// Segment ids must fit the index's 20-bit segment field.
    static let maximumSegmentID: UInt32 = (1 << 20) - 1
    /// Record offsets must fit the index's 28-bit offset field (in 8-byte units).
    static let maximumSegmentSize = 1 << 31
    static let minimumSegmentSize = 64 * 1024
    /// The longest record: header, longest key, longest value.
    static let maximumRecordLength = 32 + maximumKeyLength + maximumValueLength
}
