#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Everything behind a ``Store``: the writer (under a lock), the readers' view, durability, and
/// background work. ``Store`` is the thin public face over it.
final class StoreEngine: Sendable {
    let directory: String
    let configuration: Store.Configuration
    let hasher: KeyHasher
    let views: ViewBox
    let writer: Mutex<Writer?>
    let coordinator: SyncCoordinator
    let sealer: Sealer
    let recovery: Store.RecoveryReport
    let compactor = Compactor()
    let descriptors: DescriptorCache
    /// Which sealed segments gets read in place (``MappingManager``).
    let mappings: MappingManager
    /// A read-only store's link to the writer's files (``LiveReader``); `nil` for the writer.
    let live: LiveReader?
    /// The compression dictionaries values may have been compressed against.
    let dictionaries: DictionaryShelf
    private let lock: Mutex<StoreLock?>
    private let transactionOwner = Atomic<UInt>(0)
    private let periodic: PeriodicSync?

    init(directory: String, configuration: Store.Configuration, hasher: KeyHasher, views: ViewBox, writer: sending Writer?,
         coordinator: SyncCoordinator, sealer: Sealer, lock: StoreLock?, live: LiveReader? = nil, descriptors: DescriptorCache,
         mappings: MappingManager, dictionaries: DictionaryShelf, recovery: Store.RecoveryReport) {
        self.dictionaries = dictionaries
        self.directory = directory
        self.configuration = configuration
        self.hasher = hasher
        self.views = views
        self.writer = Mutex(writer)
        self.coordinator = coordinator
        self.sealer = sealer
        self.lock = Mutex(lock)
        self.live = live
        self.descriptors = descriptors
        self.mappings = mappings
        self.recovery = recovery
        if case .periodic(let interval) = configuration.durability {
            periodic = PeriodicSync(every: interval, coordinator: coordinator)
        } else {
            periodic = nil
        }
        sealer.setOnSealed { [weak self] in self?.compactAutomaticallyIfDue() }
        mappings.start()
    }

    // MARK: - Writes

    /// Runs `body` with the writer; throws `.closed` after close.
    @inline(__always)
    func withWriter<R>(_ body: (Writer) throws(KVError) -> R) throws(KVError) -> R {
        if isInsideTransaction { throw Self.writeInsideTransaction() }
        return try writer.withLock { (w) throws(KVError) -> R in
            guard let w else { throw writerUnavailable() }
            return try body(w)
        }
    }

    /// Why there is no writer: read-only or closed.
    private func writerUnavailable() -> KVError {
        if configuration.readOnly, (try? views.get()) != nil {
            return KVError(.readOnly, "the store was opened read-only", path: directory)
        }
        return KVError.closed()
    }

    /// A transaction: `body` runs while it holds the writer, reading through the batch (the
    /// store plus its own writes), and what it added is written as one batch. Other writers wait
    /// for it; readers do not. Nothing is written if `body` throws.
    func transaction<R>(_ body: (inout WriteBatch) throws -> R) throws -> R {
        let (result, sequence) = try transactionWritten(body)
        if sequence > 0 { try afterWrite(sequence) }
        return result
    }

    /// A transaction without the wait for durability: its result and the sequence to wait for
    /// (0: it wrote nothing).
    func transactionWritten<R>(_ body: (inout WriteBatch) throws -> R) throws -> (R, UInt64) {
        let me = Self.currentThread
        if transactionOwner.load(ordering: .relaxed) == me { throw Self.writeInsideTransaction() }
        var result: R? = nil
        let sequence = try writer.withLock { (w) throws -> UInt64 in
            guard let w else { throw writerUnavailable() }
            transactionOwner.store(me, ordering: .relaxed)
            defer { transactionOwner.store(0, ordering: .relaxed) }
            var batch = WriteBatch(engine: self)
            result = try body(&batch)
            if let error = batch.error { throw error }
            // One operation is atomic on its own: no batch record (an update costs what a set does).
            if batch.operations.count == 1 {
                switch batch.operations[0] {
                case .set(let key, let value):
                    return try key.withUnsafeBytes { k throws(KVError) in try value.withBytes { v throws(KVError) in try w.set(key: k, value: v) } }
                case .remove(let key):
                    // A removal of an absent key writes nothing, and so has nothing to wait for.
                    let (existed, sequence) = try key.withUnsafeBytes { k throws(KVError) in try w.remove(key: k) }
                    return existed ? sequence : 0
                }
            }
            return try w.write(batch.operations)
        }
        return (result!, sequence)
    }

    /// The thread a transaction runs on, while it runs (0: none): a write of the same store from
    /// inside the closure would wait for the writer it holds itself, for ever.
    private static var currentThread: UInt { UInt(pthread_self()) }

    /// Whether this thread is running a transaction of this store: one relaxed load when none runs
    /// (the common case, on every write), the thread's id only when one does.
    @inline(__always) private var isInsideTransaction: Bool {
        let owner = transactionOwner.load(ordering: .relaxed)
        return owner != 0 && owner == Self.currentThread
    }

    private static func writeInsideTransaction() -> KVError {
        KVError(.invalidArgument, "the store was written to inside its own transaction (the closure of Store.write): "
                + "write through the batch instead")
    }

    /// The write protocol, in one place: the change under the writer's lock, then, outside it,
    /// the wait for durability the configuration asks for.
    @inline(__always)
    func set(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(KVError) {
        let sequence = try withWriter { (w) throws(KVError) in try w.set(key: key, value: value) }
        try afterWrite(sequence)
    }

    /// A set without the wait for durability; returns the sequence to wait for.
    func setWritten(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(KVError) -> UInt64 {
        try withWriter { (w) throws(KVError) in try w.set(key: key, value: value) }
    }

    /// A removal without the wait for durability: whether the key was there, and the sequence to
    /// wait for (0 when nothing was written).
    func removeWritten(key: UnsafeRawBufferPointer) throws(KVError) -> (Bool, UInt64) {
        let (existed, sequence) = try withWriter { (w) throws(KVError) in try w.remove(key: key) }
        return (existed, existed ? sequence : 0)
    }

    /// The wait for durability the configuration asks for, suspended instead of blocking.
    func durable(_ sequence: UInt64) async throws(KVError) {
        if case .sync = configuration.durability, sequence > 0 { try await coordinator.durable(sequence) }
    }

    func syncSuspending() async throws(KVError) {
        _ = try views.get()
        try await coordinator.syncAllSuspending()
    }

    /// ``close()`` without blocking the caller's thread: everything written is synced first
    /// (suspended), then the rest of the close, which waits on the disk too, runs on the store's
    /// sync thread.
    func closeSuspending() async throws(KVError) {
        if isInsideTransaction { throw Self.writeInsideTransaction() }
        if !configuration.readOnly, (try? views.get()) != nil { try await coordinator.syncAllSuspending() }
        try await coordinator.onSyncThread { [self] () throws(KVError) in try close() }
    }

    /// Removes `key`; returns whether it was there.
    func remove(key: UnsafeRawBufferPointer) throws(KVError) -> Bool {
        let (existed, sequence) = try withWriter { (w) throws(KVError) in try w.remove(key: key) }
        if existed { try afterWrite(sequence) }
        return existed
    }

    /// Waits for durability as the configuration asks after a write with sequence `sequence`.
    @inline(__always)
    private func afterWrite(_ sequence: UInt64) throws(KVError) {
        if case .sync = configuration.durability { try coordinator.waitDurable(sequence) }
    }

    func sync() throws(KVError) {
        _ = try views.get()
        try coordinator.syncAll()
    }

    // MARK: - Closing

    /// Syncs everything, truncates the active segment to its records and marks the index clean,
    /// so that the next open reads no segment. Idempotent.
    func close() throws(KVError) {
        // From inside a transaction it would wait for the writer the transaction holds.
        if isInsideTransaction { throw Self.writeInsideTransaction() }
        // Before the writer's lock: a running compaction needs it to finish its chunk.
        compactor.shutDown()
        if configuration.readOnly {
            mappings.close()
            views.close()
            descriptors.closeAll()
            return
        }
        try writer.withLock { (slot) throws(KVError) in
            guard let w = slot else { return }
            periodic?.cancel()
            sealer.drain()
            var failure: KVError? = nil
            do throws(KVError) { try coordinator.syncAll() } catch { failure = error }
            let index = w.index
            let file = w.active.file
            let descriptor = w.active.descriptor
            let end = w.active.end
            let lastSequence = w.lastSequence
            w.releaseActiveRegion(sealedAt: end)
            mappings.close()
            views.close()
            slot = nil  // drops the writer and with it the active segment's mapping
            if failure == nil {
                do {
                    try Sys.truncate(descriptor.fd, length: Int64(end))
                    try Sys.fdatasync(descriptor.fd)
                    index.setCovered(LogPosition(segmentID: file.id, offset: end), sequence: lastSequence)
                    try index.markClean()
                    // A table in shared memory goes back into the store directory: a closed store
                    // is a directory of its own, whatever happens to memory (a reboot) or to it.
                    if index.sharedMemoryPath != nil { try index.checkpoint(directory: directory) }
                    // A table that left shared memory (it grew into the directory) leaves the file
                    // the store was opened with behind: nothing refers to it any more.
                    else { _ = try? Sys.unlink(HashIndex.basePath(in: directory)) }
                } catch let error as Errno {
                    failure = error.kvError("close", path: file.path)
                } catch let error as KVError {
                    failure = error
                } catch {
                    failure = KVError(.io, "close failed: \(error)")
                }
            }
            descriptors.closeAll()
            releaseLock()
            if let failure { throw failure }
        }
    }

    /// Abandons the store as a crash would: nothing synced, nothing marked clean. Tests only.
    func simulateCrash() {
        compactor.shutDown()
        writer.withLock { slot in
            guard slot != nil else { return }
            periodic?.cancel()
            sealer.drain()
            mappings.close()
            views.close()
            slot = nil
            descriptors.closeAll()
            releaseLock()
        }
    }

    /// Where the log ends: the writer's position, or the index's for a read-only store.
    func logEnd() throws(KVError) -> LogPosition {
        if configuration.readOnly { return try views.get().index.covered }
        return try withWriter { (w) throws(KVError) in LogPosition(segmentID: w.active.id, offset: w.active.end) }
    }

    private func releaseLock() {
        lock.withLock { $0 = nil }
    }
}

/// The background timer of ``Store/Durability/periodic(_:)``.
final class PeriodicSync: @unchecked Sendable {
    // @unchecked: DispatchSource is thread-safe but not annotated Sendable.
    private let source: DispatchSourceTimer

    init(every interval: Duration, coordinator: SyncCoordinator) {
        let (seconds, attoseconds) = interval.components
        let nanoseconds = max(1, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "KVStore.periodic-sync"))
        source.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds))
        // A failure is kept by the coordinator and thrown by the next write or sync.
        source.setEventHandler { [coordinator] in try? coordinator.syncAll() }
        source.resume()
    }

    func cancel() { source.cancel() }
}
