/// A storage engine kvbench can drive. Conforming types are stateless descriptions; `open` returns the store.
///
/// The root package's kvbench has `kvstore` and `floor`; the peers package (Benchmarks/Peers) adds more by passing
/// its engine types to `KVBenchCommand.main(engines:)`.
public protocol BenchEngine: Sendable {
    /// The name given to `--engine`.
    static var name: String { get }

    /// One line for `--help`.
    static var summary: String { get }

    /// Opens the store in `directory` (which exists), creating it when it is empty.
    static func open(directory: String, options: EngineOptions) throws -> any EngineStore

    /// The files whose pages `--cold` drops before a read benchmark: the engine's data, not its lock files.
    /// The default is every regular file under `directory`.
    static func dataFiles(in directory: String) -> [String]

    /// What the `rebuild` benchmark times: a call that rebuilds the index of the closed store in `directory` from its
    /// data, as the engine does when its index is lost, leaving the store closed. Nil when the engine has no separate
    /// index, which makes `rebuild` N/A for it.
    static func indexRebuild(in directory: String, options: EngineOptions) -> (() throws -> Void)?

    /// Whether other processes can read the store while one process has it open for writing, and see its writes
    /// (`kvbench --processes`). False by default: `--processes` is then refused for the engine.
    static var hasReaderProcesses: Bool { get }

    /// Opens the store in `directory` for reading only, beside the process that has it open for writing. Called only
    /// when `hasReaderProcesses`, in a reader process of `kvbench --processes`.
    static func openReader(directory: String, options: EngineOptions) throws -> any EngineStore
}

extension BenchEngine {
    /// Every regular file under `directory`.
    public static func dataFiles(in directory: String) -> [String] { FileSystem.regularFiles(under: directory) }

    /// No separate index.
    public static func indexRebuild(in directory: String, options: EngineOptions) -> (() throws -> Void)? { nil }

    /// No reader processes.
    public static var hasReaderProcesses: Bool { false }

    /// Refused: the engine has no reader processes.
    public static func openReader(directory: String, options: EngineOptions) throws -> any EngineStore {
        throw BenchError("\(name) cannot be read by other processes while it is open for writing")
    }
}

/// An open store, shared by all threads of a benchmark.
public protocol EngineStore: AnyObject, Sendable {
    /// A handle for the calling thread. Each worker thread makes its own, uses it alone, and calls `finish()` on it
    /// before it ends (a store may return itself when it needs no per-thread state).
    func makeSession() throws -> any EngineSession

    /// Makes every completed write durable (called, and timed, at the end of each write benchmark).
    func sync() throws

    /// Number of keys, when the engine can tell cheaply (used for rebuild's keys per second).
    func keyCount() throws -> Int?

    /// Index bytes per key, for engines with a separate index; nil otherwise.
    func indexBytesPerKey() throws -> Double?

    /// Sync rounds (fdatasync of the log) since the store was opened, for engines that count them.
    func syncCount() throws -> Int?

    /// What the store maps of its data files for reads now, and how often it mapped and unmapped them since it was
    /// opened, for engines that map within a budget (kvstore: `Store.Configuration.mappingBudget`); nil otherwise.
    /// May be slow (kvstore: its statistics walk the whole index), so it is read outside the timed part only.
    func mappingFigures() throws -> MappingFigures?

    /// Reclaims the space of overwritten and removed data, for engines that compact on request;
    /// nil when the engine has no such operation.
    func compact(minimumDeadRatio: Double) throws -> CompactionFigures?

    /// Copies the store, while it is in use, into `path` (an earlier backup there is updated), for
    /// engines that back up online; nil when the engine has no such operation.
    func backup(to path: String) throws -> BackupFigures?

    /// Writes `keys[i]` = `values[i]` from `writers` concurrent Swift tasks through the engine's
    /// async API; returns the OS threads the writes ran on, or nil when the engine has no async API.
    func putConcurrently(keys: [[UInt8]], values: [[UInt8]], writers: Int) throws -> Int?

    /// Closes the store (a clean shutdown).
    func close() throws
}

extension EngineStore {
    /// Unknown.
    public func keyCount() throws -> Int? { nil }
    /// No separate index.
    public func indexBytesPerKey() throws -> Double? { nil }
    /// Not counted.
    public func syncCount() throws -> Int? { nil }
    /// No mapping budget.
    public func mappingFigures() throws -> MappingFigures? { nil }
    /// No compaction on request.
    public func compact(minimumDeadRatio: Double) throws -> CompactionFigures? { nil }
    /// No online backup.
    public func backup(to path: String) throws -> BackupFigures? { nil }
    /// No async API.
    public func putConcurrently(keys: [[UInt8]], values: [[UInt8]], writers: Int) throws -> Int? { nil }
}

/// What an online backup did.
public struct BackupFigures: Sendable {
    public var filesLinked: Int
    public var filesCopied: Int
    public var filesKept: Int
    public var bytesCopied: Int64
    public var incremental: Bool
    public var index: String
    /// How long writers waited for the backup, nanoseconds.
    public var writersHeldNanos: UInt64

    public init(filesLinked: Int, filesCopied: Int, filesKept: Int, bytesCopied: Int64, incremental: Bool, index: String,
                writersHeldNanos: UInt64) {
        self.filesLinked = filesLinked
        self.filesCopied = filesCopied
        self.filesKept = filesKept
        self.bytesCopied = bytesCopied
        self.incremental = incremental
        self.index = index
        self.writersHeldNanos = writersHeldNanos
    }
}

/// One thread's handle on a store. Keys and values are passed as raw bytes valid only for the call.
public protocol EngineSession: AnyObject {
    /// Stores `value` under `key`.
    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws

    /// Looks `key` up. When present, adds the value's first and last byte to `checksum` (so every engine touches
    /// the value) and returns its length; returns nil when absent.
    func get(key: UnsafeRawBufferPointer, checksum: inout UInt64) throws -> Int?

    /// Removes `key`; returns whether it was present (engines that cannot tell cheaply return true).
    func delete(key: UnsafeRawBufferPointer) throws -> Bool

    /// Reads `key`'s value and replaces it with `value` (the update benchmark). Engines with an
    /// atomic read-modify-write use it; the default is a get, then a put.
    func update(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws

    /// Visits every entry once, in the engine's own order.
    func scan(_ visit: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) throws

    /// Commits pending writes (engines that batch writes into transactions) and releases read snapshots. Called at
    /// the end of every benchmark thread, inside the timed region.
    func finish() throws
}

/// The settings every engine is opened with.
public struct EngineOptions: Sendable, Equatable {
    /// `--compression`.
    public var compression: CompressionSetting
    /// `--durability`, or `.sync` for fillsync.
    public var durability: DurabilitySetting
    /// `--num`: lets engines size their tables and maps.
    public var expectedKeys: Int
    /// `--key-size`.
    public var keySize: Int
    /// `--value-size`.
    public var valueSize: Int
    /// `--auto-compaction`.
    public var automaticCompaction = true
    /// `--mapping-budget`: bytes of data files the store may keep mapped for reads, for engines that have such a
    /// budget (kvstore); nil: the engine's default. Other engines ignore it.
    public var mappingBudget: Int? = nil

    /// Options with every field given.
    public init(compression: CompressionSetting, durability: DurabilitySetting, expectedKeys: Int, keySize: Int,
                valueSize: Int) {
        self.compression = compression
        self.durability = durability
        self.expectedKeys = expectedKeys
        self.keySize = keySize
        self.valueSize = valueSize
    }
}

/// `--compression none|lz4`.
public enum CompressionSetting: String, Sendable, Equatable, CaseIterable {
    /// `lz4`: kvstore trains dictionaries; `lz4-plain`: per-record LZ4 without them.
    case none, lz4
    case lz4Plain = "lz4-plain"
}

/// `--durability process|sync|periodic:MS`.
public enum DurabilitySetting: Sendable, Equatable, CustomStringConvertible {
    /// A write that returned survives the process's death (not the machine's).
    case process
    /// Every write is synced before it returns.
    case sync
    /// Writes are synced at least every so many milliseconds.
    case periodic(milliseconds: Int)

    /// Parses "process", "sync" or "periodic:MS".
    public init?(parsing text: String) {
        switch text {
        case "process": self = .process
        case "sync": self = .sync
        default:
            guard text.hasPrefix("periodic:"), let ms = Int(text.dropFirst("periodic:".count)), ms > 0 else {
                return nil
            }
            self = .periodic(milliseconds: ms)
        }
    }

    /// The flag's spelling.
    public var description: String {
        switch self {
        case .process: return "process"
        case .sync: return "sync"
        case .periodic(let ms): return "periodic:\(ms)"
        }
    }
}

/// What one compaction did.
public struct CompactionFigures: Sendable {
    /// Segments (or files) compacted.
    public var segments: Int
    /// Live records copied.
    public var records: Int
    /// Bytes of live data rewritten.
    public var bytesRewritten: Int64
    /// Bytes of the compacted segments.
    public var bytesReclaimedFrom: Int64

    public init(segments: Int, records: Int, bytesRewritten: Int64, bytesReclaimedFrom: Int64) {
        self.segments = segments
        self.records = records
        self.bytesRewritten = bytesRewritten
        self.bytesReclaimedFrom = bytesReclaimedFrom
    }
}

/// What a store maps of its data files for reads (`EngineStore.mappingFigures()`): kvstore's sealed segments within
/// its mapping budget.
public struct MappingFigures: Sendable, Equatable {
    /// Bytes mapped now.
    public var mappedBytes: Int
    /// Files (segments) mapped now.
    public var mappedSegments: Int
    /// Maps of a file: since the store was opened, or (in a result) during the benchmark.
    public var segmentMaps: Int
    /// Unmaps of a file: since the store was opened, or (in a result) during the benchmark.
    public var segmentUnmaps: Int

    public init(mappedBytes: Int, mappedSegments: Int, segmentMaps: Int, segmentUnmaps: Int) {
        self.mappedBytes = mappedBytes
        self.mappedSegments = mappedSegments
        self.segmentMaps = segmentMaps
        self.segmentUnmaps = segmentUnmaps
    }

    /// A benchmark's figures: what is mapped now (`self`, read at its end), and the maps and unmaps since `before`
    /// (read at its start on the same open store; nil when the store was opened during the benchmark, so that
    /// everything since the open is the benchmark's).
    public func since(_ before: MappingFigures?) -> MappingFigures {
        guard let before else { return self }
        return MappingFigures(mappedBytes: mappedBytes, mappedSegments: mappedSegments,
                              segmentMaps: segmentMaps - before.segmentMaps,
                              segmentUnmaps: segmentUnmaps - before.segmentUnmaps)
    }

    /// The figures of several processes added up (reader processes: each maps on its own).
    static func sum(_ figures: [MappingFigures]) -> MappingFigures? {
        guard let first = figures.first else { return nil }
        return figures.dropFirst().reduce(first) { total, next in
            MappingFigures(mappedBytes: total.mappedBytes + next.mappedBytes,
                           mappedSegments: total.mappedSegments + next.mappedSegments,
                           segmentMaps: total.segmentMaps + next.segmentMaps,
                           segmentUnmaps: total.segmentUnmaps + next.segmentUnmaps)
        }
    }
}

extension EngineSession {
    /// A get, then a put: not atomic against other writers.
    public func update(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        var checksum: UInt64 = 0
        _ = try get(key: key, checksum: &checksum)
        try put(key: key, value: value)
    }
}
