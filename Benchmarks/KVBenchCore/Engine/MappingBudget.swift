/// `--mapping-budget default|BYTES`: bytes of data files a store may keep mapped for reads (kvstore:
/// `Store.Configuration.mappingBudget`; 0: never map, every get reads with `pread`). Other engines ignore it.
public enum MappingBudgetSetting: Sendable, Equatable, CustomStringConvertible {
    /// The engine's default (kvstore: `Store.Configuration.defaultMappingBudget`).
    case engineDefault
    /// This many bytes.
    case bytes(Int)

    /// Parses "default" or a byte count (see `ByteCount.parse`).
    public init?(parsing text: String) {
        if text == "default" {
            self = .engineDefault
        } else if let bytes = ByteCount.parse(text) {
            self = .bytes(bytes)
        } else {
            return nil
        }
    }

    /// The bytes given, or nil for the engine's default.
    public var bytes: Int? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }

    /// "default" or the byte count (which `init(parsing:)` reads back).
    public var description: String {
        switch self {
        case .engineDefault: return "default"
        case .bytes(let bytes): return String(bytes)
        }
    }
}

/// Byte counts on the command line.
public enum ByteCount {
    /// A non-negative integer with an optional binary suffix: "4096", "64K", "64KiB", "256M", "256MiB", "1G",
    /// "1GiB" (K = 1024; the suffix's letters in any case). Nil for anything else, or when it overflows an `Int`.
    public static func parse(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        let shift: Int
        switch text.dropFirst(digits.count).lowercased() {
        case "": shift = 0
        case "k", "kib": shift = 10
        case "m", "mib": shift = 20
        case "g", "gib": shift = 30
        default: return nil
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : bytes
    }
}
