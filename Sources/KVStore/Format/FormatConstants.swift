// See FORMAT.md for the normative description of every file. The constants here are named as
// the fields there are.

/// Versions of the on-disk format. A reader accepts files with its own major version and any
/// minor version; a larger major version is refused with ``KVError/Code/incompatibleFormat``.
enum FormatVersion {
    static let major: UInt16 = 1
    static let minor: UInt16 = 0
}

/// File names inside a store directory (FORMAT.md §1).
enum FileNames {
    static let manifest = "STORE"
    static let lock = "LOCK"
    static let index = "index"
    static let temporarySuffix = ".tmp"
    static let segmentSuffix = ".seg"
    static let hintSuffix = ".hint"
    /// A segment set aside by recovery because it lies after the point where a power loss cut the log.
    static let lostSuffix = ".lost"

    static func segment(_ id: UInt32) -> String { digits(id) + segmentSuffix }
    static func hint(_ id: UInt32) -> String { digits(id) + hintSuffix }

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
