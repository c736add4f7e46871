import Dispatch
import KVStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The `kvstore` engine: this project's `KVStore.Store`, through its public API (and, to name the files `--cold`
/// evicts, the package's tooling API, so that kvbench does not know the store's file layout).
///
/// Gets use `withValue(forKey:)`, which hands the value over without allocating; all threads share the store.
public enum KVStoreEngine: BenchEngine {
    public static let name = "kvstore"
    public static let summary = "KVStore (this package): log-structured segments + mmap'd hash index"

    public static func open(directory: String, options: EngineOptions) throws -> any EngineStore {
        KVStoreHandle(store: try Store(path: directory, configuration: configuration(options)))
    }

    /// The segment files: what `--cold` evicts. The index is mmap'd, so DONTNEED would not drop it anyway.
    public static func dataFiles(in directory: String) -> [String] {
        Store.toolingSegmentFiles(in: directory)
    }

    /// `Store.rebuildIndex`: under the store's lock, the index rebuilt from the segments (through their hint files),
    /// then a clean close.
    public static func indexRebuild(in directory: String, options: EngineOptions) -> (() throws -> Void)? {
        let configuration = configuration(options)
        return { _ = try Store.rebuildIndex(at: directory, configuration: configuration) }
    }

    /// A live reader (issue 9): `readOnly` while the writer process keeps the store open.
    public static let hasReaderProcesses = true

    /// `Store(path:configuration:)` with `readOnly`: it takes no writer's lock, writes nothing, and sees the writer's
    /// writes as they are published. No size hint (sizing the index is the writer's) and no automatic compaction.
    public static func openReader(directory: String, options: EngineOptions) throws -> any EngineStore {
        var configuration = configuration(options)
        configuration.readOnly = true
        configuration.expectedKeyCount = 0
        configuration.automaticCompaction = nil
        return KVStoreHandle(store: try Store(path: directory, configuration: configuration))
    }

    /// The mapping budget of `--mapping-budget default`: `Store.Configuration.defaultMappingBudget`.
    public static var defaultMappingBudget: Int { Store.Configuration.defaultMappingBudget }

    /// The mapping budget a store opened with `options` has.
    public static func mappingBudget(_ options: EngineOptions) -> Int { configuration(options).mappingBudget }

    /// The configuration every open uses.
    static func configuration(_ options: EngineOptions) -> Store.Configuration {
        var configuration = Store.Configuration()
        // The same size hint the floor gets for its table.
        configuration.expectedKeyCount = options.expectedKeys
        if !options.automaticCompaction { configuration.automaticCompaction = nil }
        if let budget = options.mappingBudget { configuration.mappingBudget = budget }
        switch options.compression {
        case .none: configuration.compression = .none
        case .lz4: configuration.compression = .lz4
        case .lz4Plain:
            configuration.compression = .lz4
            configuration.trainsDictionaries = false
        }
        switch options.durability {
        case .process: configuration.durability = .process
        case .sync: configuration.durability = .sync
        case .periodic(let ms): configuration.durability = .periodic(.milliseconds(ms))
        }
        return configuration
    }
}

/// An open `Store`; it is also every thread's session, since `Store` is thread-safe.
final class KVStoreHandle: EngineStore, EngineSession, Sendable {
    let store: Store

    init(store: Store) { self.store = store }

    func makeSession() throws -> any EngineSession { self }

    func sync() throws { try store.sync() }

    func keyCount() throws -> Int? { try store.statistics.keys }

    func indexBytesPerKey() throws -> Double? { try store.statistics.indexBytesPerKey }
    func syncCount() throws -> Int? { try store.statistics.syncs }

    /// From `store.statistics`, which walks the whole index: outside the timed part only.
    func mappingFigures() throws -> MappingFigures? {
        let statistics = try store.statistics
        return MappingFigures(mappedBytes: statistics.mappedBytes, mappedSegments: statistics.mappedSegments,
                              segmentMaps: statistics.segmentMaps, segmentUnmaps: statistics.segmentUnmaps)
    }
    /// `writers` tasks in a task group, each doing `try await store.set` in turn: with `.sync`
    /// they suspend while the store's sync thread runs the shared fdatasyncs.
    func putConcurrently(keys: [[UInt8]], values: [[UInt8]], writers: Int) throws -> Int? {
        let store = self.store
        let outcome = ConcurrentOutcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for w in 0..<writers {
                        group.addTask {
                            for i in stride(from: w, to: keys.count, by: writers) {
                                try await store.set(values[i], forKey: keys[i])
                                let me = UInt(pthread_self())
                                outcome.state.withLock { _ = $0.threads.insert(me) }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            } catch {
                outcome.state.withLock { $0.error = error }
            }
            done.signal()
        }
        done.wait()
        let (error, threads) = outcome.state.withLock { ($0.error, $0.threads) }
        if let error { throw error }
        return threads.count
    }

    func backup(to path: String) throws -> BackupFigures? {
        let r = try store.backup(to: path)
        let (s, a) = r.writersHeld.components
        return BackupFigures(filesLinked: r.filesLinked, filesCopied: r.filesCopied, filesKept: r.filesKept, bytesCopied: r.bytesCopied,
                             incremental: r.incremental, index: r.index.rawValue,
                             writersHeldNanos: UInt64(s) * 1_000_000_000 + UInt64(a / 1_000_000_000))
    }

    func compact(minimumDeadRatio: Double) throws -> CompactionFigures? {
        var options = Store.CompactionOptions()
        options.minimumDeadRatio = minimumDeadRatio
        options.minimumDeadBytes = 0
        let report = try store.compact(options)
        return CompactionFigures(segments: report.segmentsCompacted, records: report.recordsCopied,
                                 bytesRewritten: report.bytesAfter, bytesReclaimedFrom: report.bytesBefore)
    }

    func close() throws { try store.close() }

    @inline(__always)
    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try store.set(value, forKey: key)
    }

    /// `Store.update`: the old value read and the new one written in one transaction.
    func update(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try store.update(forKey: key) { old in
            precondition(old != nil, "update: the key was not there")
            return Array(value)
        }
    }

    @inline(__always)
    func get(key: UnsafeRawBufferPointer, checksum: inout UInt64) throws -> Int? {
        try store.withValue(forKey: key) { bytes in
            if let first = bytes.first, let last = bytes.last { checksum &+= UInt64(first) &+ UInt64(last) }
            return bytes.count
        }
    }

    @inline(__always)
    func delete(key: UnsafeRawBufferPointer) throws -> Bool {
        try store.removeValue(forKey: key)
    }

    func scan(_ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        var cursor = try store.entries()
        while let (key, value) = try cursor.next() {
            key.withUnsafeBytes { k in value.withUnsafeBytes { v in visit(k, v) } }
        }
    }

    func finish() throws {}
}

/// What the tasks of ``KVStoreHandle/putConcurrently(keys:values:writers:)`` share.
final class ConcurrentOutcome: Sendable {
    let state = Mutex<(error: (any Error)?, threads: Set<UInt>)>((nil, []))
}
