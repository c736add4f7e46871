import Synchronization

/// Keys and values from a file instead of generated ones (`--dataset`): NDJSON lines
/// `{"key":"…","value":"…"}`, as `kvtool export` writes them, in one buffer. Key number n of the
/// fill and read orders is the file's n-th line: real data, with the redundancy it really has
/// (what a dictionary trained by the store is measured on).
public final class Dataset: Sendable {
    nonisolated(unsafe) private let base: UnsafeMutableRawPointer
    private let spans: [(key: Int, keyLength: Int, value: Int, valueLength: Int)]
    public let path: String
    public let totalKeyBytes: Int
    public let totalValueBytes: Int

    public var count: Int { spans.count }

    /// The dataset at `path`, read once per process: the command's checks and its run both ask.
    public static func load(path: String) throws -> Dataset {
        try loaded.withLock { (known) throws -> Dataset in
            if let dataset = known[path] { return dataset }
            let dataset = try Dataset(path: path)
            known[path] = dataset
            return dataset
        }
    }

    private static let loaded = Mutex<[String: Dataset]>([:])

    /// Reads `path`; throws a `BenchError` for a line that is not an object with string `key` and `value`.
    public init(path: String) throws {
        guard let text = FileSystem.readText(path) else { throw BenchError("cannot read --dataset \(path)") }
        var bytes: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        var keyBytes = 0, valueBytes = 0
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard case .object(let fields) = try JSONValue.parse(String(line)),
                  case .string(let key)? = fields.first(where: { $0.0 == "key" })?.1,
                  case .string(let value)? = fields.first(where: { $0.0 == "value" })?.1, !key.isEmpty else {
                throw BenchError("\(path):\(n + 1): not a {\"key\": …, \"value\": …} line")
            }
            let k = Array(key.utf8), v = Array(value.utf8)
            spans.append((bytes.count, k.count, bytes.count + k.count, v.count))
            bytes += k
            bytes += v
            keyBytes += k.count
            valueBytes += v.count
        }
        guard !spans.isEmpty else { throw BenchError("\(path): no key/value lines") }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        base = storage
        self.spans = spans
        self.path = path
        totalKeyBytes = keyBytes
        totalValueBytes = valueBytes
    }

    deinit { base.deallocate() }

    @inline(__always) public func key(_ n: Int) -> UnsafeRawBufferPointer {
        let s = spans[n % spans.count]
        return UnsafeRawBufferPointer(start: base + s.key, count: s.keyLength)
    }

    @inline(__always) public func value(_ n: Int) -> UnsafeRawBufferPointer {
        let s = spans[n % spans.count]
        return UnsafeRawBufferPointer(start: base + s.value, count: s.valueLength)
    }

    public var longestKey: Int { spans.map(\.keyLength).max() ?? 1 }
}
