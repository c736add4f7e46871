#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Makes written records durable: group commit, the order of syncs, and the failed state.
///
/// - Group commit: a writer that needs its record on disk waits here. If a sync is running, it
///   waits for that one and the next; otherwise it becomes the leader, syncs everything written so
///   far, and wakes every writer it covered. So concurrent `.sync` writers share `fdatasync`s.
/// - Order: segments are synced oldest first, so what survives a power loss is a prefix of the
///   write history. A new segment's directory entry is synced before the segment counts as durable.
/// - Failure: a failed sync is final (the kernel may have dropped the pages it could not write).
///   The error is kept, every later write or sync throws it, and the store must be reopened.
final class SyncCoordinator: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `mutex`; the condition variable needs a stable
    // address, hence the manual pthread objects.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let directory: String
    /// The store's directory, held open by its lock: a directory sync needs no new descriptor.
    private let directoryDescriptor: Int32

    /// The highest sequence published by the writer; an atomic so that a put does not take the lock.
    private let written = Atomic<UInt64>(0)
    private var durable: UInt64 = 0
    private var syncing = false
    /// Files with writes not yet known durable, oldest first; the last is the active segment.
    private var unsynced: [SegmentFile] = []
    private var directoryDirty = false
    private var failure: KVError?
    private let failed = Atomic<Bool>(false)
    /// How many sync rounds ran since the store was opened (for statistics: writes per sync).
    private let rounds = Atomic<Int>(0)
    /// Async writers waiting for durability, and whether the sync thread is serving them. They
    /// suspend instead of blocking a thread: one thread of the store's own runs their rounds.
    private var suspended: [(sequence: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var serving = false
    private let syncThread = DispatchQueue(label: "KVStore.sync")
    var syncRounds: Int { rounds.load(ordering: .relaxed) }
    /// The highest sequence the writer published.
    var writtenSequence: UInt64 { written.load(ordering: .acquiring) }

    /// Starts with everything up to `writtenSequence` written but nothing known durable: after a
    /// crash the recovered records may be only in the page cache, so the first sync covers them.
    init(directory: String, directoryDescriptor: Int32, writtenSequence: UInt64) {
        self.directory = directory
        self.directoryDescriptor = directoryDescriptor
        written.store(writtenSequence, ordering: .relaxed)
        durable = 0
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// The error of a failed sync, if one happened. Cheap to call on every write.
    @inline(__always) func checkFailure() throws(KVError) {
        if failed.load(ordering: .relaxed), let failure = locked({ failure }) { throw failure }
    }

    /// Called by the writer after publishing records up to `sequence` (into the newest segment
    /// it announced with ``noteActive(_:created:)``).
    @inline(__always) func noteWritten(_ sequence: UInt64) {
        written.store(sequence, ordering: .releasing)
    }

    /// Called by the writer when it starts appending to `segment`; `created` when the file is new
    /// and its directory entry must be synced too.
    func noteActive(_ segment: SegmentFile, created: Bool) {
        locked {
            if created { directoryDirty = true }
            if unsynced.last !== segment { unsynced.append(segment) }
        }
    }

    /// Returns once every record up to `sequence` is on disk (or throws the sync error).
    func waitDurable(_ sequence: UInt64) throws(KVError) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let failure { throw failure }
            if durable >= sequence { return }
            if syncing {
                pthread_cond_wait(condition, mutex)
                continue
            }
            leadRound()
        }
    }

    /// Leads a round: syncs everything written so far (outside the lock, which the caller holds
    /// on entry and on return) and wakes the blocked waiters.
    private func leadRound() {
        let target = written.load(ordering: .acquiring)
        let files = unsynced
        if runRound(files) == nil {
            durable = max(durable, target)
            // Everything synced except the newest file is sealed and done with.
            let keep = files.last.map { last in unsynced.firstIndex(where: { $0 === last }) ?? 0 } ?? 0
            unsynced.removeFirst(min(keep, unsynced.count))
        }
        pthread_cond_broadcast(condition)
    }

    /// Makes a sealed segment durable, with every older file before it, but not the active segment:
    /// syncing that while the writer fills it would write-protect its mapped pages under the writer
    /// (a fault and a TLB shootdown per page). The sealer calls this before writing a hint.
    func syncSealed(_ segment: SegmentFile) throws(KVError) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while syncing { pthread_cond_wait(condition, mutex) }
        if let failure { throw failure }
        guard let position = unsynced.firstIndex(where: { $0 === segment }) else { return }  // a round synced it
        let files = Array(unsynced[...position])
        if let error = runRound(files) { throw error }
        // Only rounds remove files, and none ran meanwhile: these are still the first ones.
        unsynced.removeFirst(files.count)
        pthread_cond_broadcast(condition)
    }

    /// One sync round over `files` (and the directory, if a file was created since the last one),
    /// run outside the lock, which the caller holds on entry and on return. A failure is recorded
    /// as final. Returns it, or `nil`.
    private func runRound(_ files: [SegmentFile]) -> KVError? {
        syncing = true
        let syncDirectory = directoryDirty
        directoryDirty = false
        pthread_mutex_unlock(mutex)
        var error: KVError? = nil
        do throws(KVError) {
            if syncDirectory {
                do { try Sys.fsync(directoryDescriptor) } catch { throw error.kvError("fsync", path: directory) }
            }
            for file in files { try file.sync() }
        } catch let e {
            error = e
        }
        pthread_mutex_lock(mutex)
        syncing = false
        rounds.add(1, ordering: .relaxed)
        if let error {
            failure = error
            failed.store(true, ordering: .relaxed)
            pthread_cond_broadcast(condition)
        }
        return error
    }

    /// Suspends until every record up to `sequence` is on disk (or throws the sync error): the
    /// async counterpart of ``waitDurable(_:)``. The rounds run on the store's sync thread, one
    /// at a time, each covering every record written before it starts, so the writers that
    /// suspend while one runs share the next.
    func durable(_ sequence: UInt64) async throws(KVError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let start: Bool = locked {
                    if let failure {
                        continuation.resume(throwing: failure)
                        return false
                    }
                    if durable >= sequence {
                        continuation.resume()
                        return false
                    }
                    suspended.append((sequence, continuation))
                    if serving { return false }
                    serving = true
                    return true
                }
                if start { syncThread.async { self.serveSuspended() } }
            }
        } catch let error as KVError {
            throw error
        } catch {
            throw KVError(.io, "sync failed: \(error)")
        }
    }

    /// Runs `body` on the store's sync thread and suspends until it returns: for work that waits
    /// on the disk (``Store/close()-8zwz6``) called from Swift concurrency.
    func onSyncThread<R: Sendable>(_ body: @escaping @Sendable () throws(KVError) -> R) async throws(KVError) -> R {
        do {
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                syncThread.async {
                    do throws(KVError) { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
                }
            }
        } catch let error as KVError {
            throw error
        } catch {
            throw KVError(.io, "\(error)")
        }
    }

    /// The sync thread's loop: rounds until no suspended writer is left. A blocking writer's round
    /// (``waitDurable(_:)``) counts as well: it waits for that one instead of running its own.
    private func serveSuspended() {
        pthread_mutex_lock(mutex)
        while true {
            var ready: [CheckedContinuation<Void, any Error>] = []
            let failed = failure
            if failed != nil {
                ready = suspended.map(\.continuation)
                suspended = []
            } else {
                let done = durable
                ready = suspended.filter { $0.sequence <= done }.map(\.continuation)
                suspended.removeAll { $0.sequence <= done }
            }
            let finished = suspended.isEmpty
            if finished { serving = false }
            if !ready.isEmpty {
                pthread_mutex_unlock(mutex)
                for c in ready {
                    if let failed { c.resume(throwing: failed) } else { c.resume() }
                }
                pthread_mutex_lock(mutex)
            }
            if finished {
                // A writer that suspended while the lock was let go has set `serving` again and
                // queued another loop; one that came after `serving` was cleared did the same.
                pthread_mutex_unlock(mutex)
                return
            }
            if syncing {
                pthread_cond_wait(condition, mutex)
                continue
            }
            leadRound()
        }
    }

    /// Syncs everything written so far.
    func syncAll() throws(KVError) {
        try waitDurable(written.load(ordering: .acquiring))
    }

    /// Suspends until everything written so far is synced.
    func syncAllSuspending() async throws(KVError) {
        try await durable(written.load(ordering: .acquiring))
    }

    /// Records an error that makes the store refuse writes (a failed sync elsewhere).
    func fail(_ error: KVError) {
        locked {
            if failure == nil { failure = error }
            failed.store(true, ordering: .relaxed)
        }
    }
}
