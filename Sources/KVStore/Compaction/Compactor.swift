#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Compaction's state: one compaction at a time, the automatic trigger, the last report.
final class Compactor: Sendable {
    /// Serializes compactions (manual and automatic) and runs the automatic ones.
    let queue = DispatchQueue(label: "KVStore.compactor")
    private let running = Mutex(false)
    private let report = Mutex<Store.CompactionReport?>(nil)
    private let scheduled = Atomic<Bool>(false)
    /// What the last automatic plan saw: the writer's ``Writer/supersedingWrites`` then, and
    /// whether a segment with dead bytes waited for its hint. With neither changed since, no
    /// segment can have crossed a threshold, and the next automatic compaction does not plan (a
    /// plan walks the whole index: seconds at 100 M keys, after every sealed segment).
    private let lastAutomaticPlan = Mutex<(writes: Int, waiting: Bool)?>(nil)

    /// Whether an automatic compaction may skip its plan, the writer being at `writes`.
    func planIsCurrent(writes: Int) -> Bool {
        lastAutomaticPlan.withLock { last in last.map { $0.writes == writes && !$0.waiting } ?? false }
    }

    /// Plans made since open (manual and automatic), for tests.
    let plans = Atomic<Int>(0)
    /// Segments automatic compactions compacted since open: a later run that finds nothing left
    /// replaces ``lastReport``, not this.
    let automaticallyCompacted = Atomic<Int>(0)

    func recordAutomaticPlan(writes: Int, waiting: Bool) { lastAutomaticPlan.withLock { $0 = (writes, waiting) } }

    /// Sets the segments ``Store/verify()`` found problems in; the next automatic compaction plans.
    func setSuspects(_ ids: Set<UInt32>) {
        suspects.withLock { $0 = ids }
        lastAutomaticPlan.withLock { $0 = nil }
    }
    /// Set by close(): a compaction stops between chunks.
    let closing = Atomic<Bool>(false)
    /// Segments the last ``Store/verify()`` found problems in (or that index problems point into):
    /// left alone until a later verify finds them sound, since their damage may be all that keeps
    /// a record from being called dead.
    let suspects = Mutex<Set<UInt32>>([])

    var lastReport: Store.CompactionReport? { report.withLock { $0 } }

    func record(_ value: Store.CompactionReport) { report.withLock { $0 = value } }

    /// Runs `body` alone. With `wait`, waits for a running compaction to end first (a manual
    /// compaction queues behind an automatic one); without, returns `nil` when one is running.
    func exclusively<R>(wait: Bool, _ body: () throws(KVError) -> R) throws(KVError) -> R? {
        while true {
            let acquired = running.withLock { busy -> Bool in
                if busy { return false }
                busy = true
                return true
            }
            if acquired { break }
            guard wait else { return nil }
            usleep(1_000)
        }
        defer { running.withLock { $0 = false } }
        return try body()
    }

    /// Coalesces automatic triggers: at most one automatic compaction waits in the queue.
    func schedule(_ work: @escaping @Sendable () -> Void) {
        guard !closing.load(ordering: .relaxed), !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            scheduled.store(false, ordering: .releasing)
            guard !closing.load(ordering: .relaxed) else { return }
            work()
        }
    }

    /// Stops automatic compactions and waits for a running one to stop.
    func shutDown() {
        closing.store(true, ordering: .relaxed)
        queue.sync {}
    }
}

extension StoreEngine {
    /// Copies live records out of the segments that cross the thresholds, then deletes them.
    func compact(_ options: Store.CompactionOptions, automatic: Bool) throws(KVError) -> Store.CompactionReport {
        guard !configuration.readOnly || options.dryRun else {
            throw KVError(.readOnly, "the store was opened read-only", path: directory)
        }
        let report = try compactor.exclusively(wait: !automatic) { () throws(KVError) -> Store.CompactionReport in
            let start = Self.now()
            // Sealed segments are compacted only once durable and hinted (plan skips the others).
            // Asked for explicitly, finish the sealing already queued; the automatic one does not
            // wait, so that it never queues behind a busy writer's sealing.
            if !automatic && !configuration.readOnly { sealer.drain() }
            let writes = automatic ? try withWriter { (w) throws(KVError) in w.supersedingWrites } : 0
            if automatic && compactor.planIsCurrent(writes: writes) { return Store.CompactionReport() }
            var report = try plan(options)
            if automatic {
                compactor.recordAutomaticPlan(writes: writes, waiting: report.segments.contains { $0.deadBytes > 0 && !$0.compacted && $0.reason.hasPrefix("not yet synced") })
            }
            report.automatic = automatic
            report.dryRun = options.dryRun
            let chosen = report.segments.filter(\.compacted)
            if !options.dryRun && !chosen.isEmpty {
                try copyForward(chosen.map(\.path), options: options, report: &report)
            }
            report.seconds = Self.now() - start
            compactor.record(report)
            if automatic { compactor.automaticallyCompacted.add(report.segmentsCompacted, ordering: .relaxed) }
            return report
        }
        // Only an automatic compaction skips (when another is running); it reports nothing then.
        return report ?? Store.CompactionReport()
    }

    /// Decides, per sealed segment, from the live bytes the index points at.
    private func plan(_ options: Store.CompactionOptions) throws(KVError) -> Store.CompactionReport {
        compactor.plans.add(1, ordering: .relaxed)
        let segments: SegmentTable, index: HashIndex, activeID: UInt32
        if configuration.readOnly {
            let view = try views.get()
            (segments, index, activeID) = (view.segments, view.index, view.index.covered.segmentID)
        } else {
            (segments, index, activeID) = try withWriter { (w) throws(KVError) in (w.segments, w.index, w.active.id) }
        }
        // By segment id, in an array: this walks every slot of the index (a dictionary's hashing
        // made it the writer's main competitor for the CPU at 100 M keys).
        var live = [Int64](repeating: 0, count: Int(segments.all.map(\.id).max() ?? 0) + 1)
        index.forEachLive { _, _, word in
            let id = Int(word >> 44)
            if id < live.count { live[id] &+= Int64(Location.decodeLength(UInt16(truncatingIfNeeded: word))) }
        }
        var report = Store.CompactionReport()
        let suspected = compactor.suspects.withLock { $0 }
        for file in segments.all where file.id != activeID {
            let bytes = Int64(try file.size())
            let liveBytes = min(live[Int(file.id)], max(0, bytes - Int64(SegmentHeader.size)))
            let dead = max(0, bytes - Int64(SegmentHeader.size) - liveBytes)
            let ratio = bytes > 0 ? Double(dead) / Double(bytes) : 0
            let hinted = file.state == .hinted
            let percent = Int((ratio * 100).rounded())
            var reason: String
            var compacted = false
            if !hinted {
                reason = "not yet synced and hinted"
            } else if suspected.contains(file.id) {
                reason = "verify found problems in it or in index slots for it"
            } else if ratio < options.minimumDeadRatio {
                reason = "\(percent)% dead, below the \(Int(options.minimumDeadRatio * 100))% threshold"
            } else if dead < Int64(options.minimumDeadBytes) {
                reason = "\(dead) dead bytes, below the \(options.minimumDeadBytes)-byte threshold"
            } else {
                reason = "\(percent)% dead (\(dead) bytes)"
                compacted = true
            }
            report.segments.append(.init(path: file.path, bytes: bytes, liveBytes: liveBytes, deadBytes: dead,
                                         compacted: compacted, reason: reason))
        }
        return report
    }

    private func copyForward(_ paths: [String], options: Store.CompactionOptions, report: inout Store.CompactionReport) throws(KVError) {
        let all = try withWriter { (w) throws(KVError) in w.segments }
        // Claimed while copied from: the state says who works on a segment, not a flag of the compactor.
        let chosen = all.all.filter { paths.contains($0.path) && $0.lifecycle.claimForCompaction() }
        defer { for victim in chosen where victim.state != .retired { victim.lifecycle.release() } }
        var victims = Set(chosen.map(\.id))
        let chunkRecords = 1024
        var copiedSince = 0
        var chunkStart = Self.now()
        var tombstones: TombstoneLog? = nil
        func keep(_ victim: SegmentFile, _ reason: String) {
            if let i = report.segments.firstIndex(where: { $0.path == victim.path }) {
                report.segments[i].compacted = false
                report.segments[i].reason = reason + "; not compacted"
            }
        }
        for victim in chosen {
            // A tombstone must stay while an older segment that is not being compacted could
            // still hold a value for its key (Bitcask #82).
            let keepTombstones = all.all.contains { $0.id < victim.id && !victims.contains($0.id) }
            var reader = try LogReader(file: victim, role: .sealed(hinted: true), purpose: .inspect(resynchronize: false))
            var damaged = false
            var done = false
            // Put records the index does not account for, to be checked against the log's tombstones.
            var unindexed: [(header: RecordHeader, offset: Int, bytes: [UInt8])] = []
            while !done {
                if compactor.closing.load(ordering: .relaxed) { victims.remove(victim.id); damaged = true; break }
                // Read a chunk outside the writer's lock, then move it under the lock.
                var chunk: [(header: RecordHeader, offset: Int, bytes: [UInt8])] = []
                while chunk.count < chunkRecords {
                    switch try reader.next() {
                    case .record(let r): chunk.append((r.header, r.offset, Array(r.bytes)))
                    case .stop(.end): done = true
                    case .stop(let stop):
                        // Never delete a segment read in part: what follows the damage (zeros
                        // where a block was lost, say) may be a tombstone never read.
                        keep(victim, "damaged at \(stop.offset) (\(stop.reason ?? ""))")
                        damaged = true
                        done = true
                    case .skipped:
                        done = true  // not with this purpose
                    }
                    if done { break }
                }
                let readBytes = chunk.reduce(0) { $0 + $1.bytes.count }
                let moved = try withWriter { (w) throws(KVError) -> (bytes: Int, records: Int, kept: Int, dropped: Int) in
                    var bytes = 0, records = 0, kept = 0, dropped = 0
                    for record in chunk {
                        try record.bytes.withBytes { (raw) throws(KVError) in
                            let key = UnsafeRawBufferPointer(rebasing: raw[RecordHeader.size ..< RecordHeader.size + record.header.keyLength])
                            switch record.header.kind {
                            case .put:
                                let value = UnsafeRawBufferPointer(rebasing: raw[(RecordHeader.size + record.header.keyLength)...])
                                switch try w.relocate(header: record.header, key: key, storedValue: value,
                                                      from: Location(segmentID: victim.id, offset: record.offset, readLength: 0)) {
                                case .moved(let n): bytes += n; records += 1
                                case .superseded: break
                                case .notIndexed: unindexed.append(record)
                                }
                            case .delete:
                                if keepTombstones {
                                    let n = try w.keepTombstone(key: key)
                                    if n > 0 { bytes += n; kept += 1 } else { dropped += 1 }
                                } else {
                                    dropped += 1
                                }
                            case .batch:
                                break
                            }
                        }
                    }
                    return (bytes, records, kept, dropped)
                }
                report.bytesAfter += Int64(moved.bytes)
                report.recordsCopied += moved.records
                report.tombstonesKept += moved.kept
                report.tombstonesDropped += moved.dropped
                copiedSince += readBytes
                if let limit = options.maximumBytesPerSecond, limit > 0 {
                    // Sleep off what this chunk took above the allowed rate.
                    let allowed = Double(copiedSince) / Double(limit)
                    let spent = Self.now() - chunkStart
                    if allowed > spent { usleep(useconds_t(min(1_000_000, (allowed - spent) * 1_000_000))) }
                    if Self.now() - chunkStart > 1 { copiedSince = 0; chunkStart = Self.now() }
                }
            }
            if !damaged && !unindexed.isEmpty {
                // The expensive part (hint files of the whole store) outside the writer's lock.
                if tombstones == nil {
                    let (table, end, storeID) = try withWriter { (w) throws(KVError) in
                        (w.segments, LogPosition(segmentID: w.active.id, offset: w.active.end), w.storeID)
                    }
                    tombstones = try TombstoneLog(segments: table, end: end, directory: directory, storeID: storeID, hasher: hasher)
                }
                let missing = try withWriter { (w) throws(KVError) -> (count: Int, first: Int?) in
                    try tombstones!.extend(segments: w.segments, to: LogPosition(segmentID: w.active.id, offset: w.active.end))
                    var count = 0, first: Int? = nil
                    for record in unindexed {
                        try record.bytes.withBytes { (raw) throws(KVError) in
                            let key = UnsafeRawBufferPointer(rebasing: raw[RecordHeader.size ..< RecordHeader.size + record.header.keyLength])
                            let value = UnsafeRawBufferPointer(rebasing: raw[(RecordHeader.size + record.header.keyLength)...])
                            // Indexed since the first look (set again, or moved)? Then as before.
                            switch try w.relocate(header: record.header, key: key, storedValue: value,
                                                  from: Location(segmentID: victim.id, offset: record.offset, readLength: 0)) {
                            case .moved(let n): report.bytesAfter += Int64(n); report.recordsCopied += 1
                            case .superseded: break
                            case .notIndexed:
                                if !tombstones!.hasNewerTombstone(for: key, than: record.header.sequence) {
                                    count += 1
                                    if first == nil { first = record.offset }
                                }
                            }
                        }
                    }
                    return (count, first)
                }
                if let first = missing.first {
                    keep(victim, "\(missing.count) record(s) are live in the log but not in the index (the first at \(first)); "
                         + "verify the store and rebuild its index (Store.rebuildIndex, kvtool reindex)")
                    damaged = true
                }
            }
            if damaged { victims.remove(victim.id) }
        }
        guard !victims.isEmpty else { return }
        // The copies must be on disk before the originals go: a power loss in between would
        // otherwise lose both.
        try coordinator.syncAll()
        let forgotten = try withWriter { (w) throws(KVError) -> Set<UInt32> in
            // Insurance: never drop a segment that a slot still points into.
            var pointed = Set<UInt32>()
            w.index.forEachLive { _, _, word in
                let id = Location(word: word).segmentID
                if victims.contains(id) { pointed.insert(id) }
            }
            let safe = victims.subtracting(pointed)
            w.forget(safe)
            return safe
        }
        // Best effort across every victim: they are already out of the readers' table, and one
        // failed unlink must not leave the others behind unaccounted.
        var failure: KVError? = nil
        for victim in chosen where forgotten.contains(victim.id) {
            victim.lifecycle.advance(to: .retired)
            // A backup under way may still link them: then they go when it is done.
            _ = try? dictionaries.deletions.unlink(directory + "/" + FileNames.hint(victim.id))
            do { try dictionaries.deletions.unlink(victim.path) } catch {
                if failure == nil { failure = error.kvError("unlink", path: victim.path) }
                continue
            }
            report.segmentsCompacted += 1
            report.bytesBefore += Int64(report.segments.first { $0.path == victim.path }?.bytes ?? 0)
        }
        descriptors.drop(forgotten)
        mappings.retire(forgotten)
        report.dictionariesRetired += (try? withWriter { (w) throws(KVError) in w.retireUnusedDictionaries() })?.count ?? 0
        if let failure { throw failure }
        do { try Sys.syncDirectory(directory) } catch { throw error.kvError("fsync", path: directory) }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Called after a segment is sealed: compacts in the background if the configuration asks.
    func compactAutomaticallyIfDue() {
        guard let options = configuration.automaticCompaction, !configuration.readOnly else { return }
        compactor.schedule { [self] in
            _ = try? compact(options, automatic: true)
        }
    }
}
