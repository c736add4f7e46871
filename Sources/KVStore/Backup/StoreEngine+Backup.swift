#if canImport(Glibc)
import Glibc
#endif

/// What a backup takes from the store at one moment (FORMAT.md §14): where the log ended, and
/// the files that hold everything before that point.
struct BackupCapture {
    /// The end of the log the backup holds: a record boundary after a whole write or batch.
    var position: LogPosition
    var sequence: UInt64
    /// The sealed segments before `position.segmentID`, with their sizes (they never change).
    var sealed: [(id: UInt32, size: Int64)]
    /// Whether the index was written into the staging directory while the writer was held.
    var indexCopied = false
    var indexBytes = 0
    var writersHeld: Duration = .zero
}

extension StoreEngine {
    /// Below this much data in the active segment a backup copies it; from it on, the backup
    /// seals it first (a roll, as when it fills), so that everything it holds is immutable and
    /// linked, and the next backup need not copy it again. A quarter of a segment (16 MiB by
    /// default) bounds what one backup copies, and keeps frequent backups from spending the 20-bit
    /// segment-id space more than 4 times as fast as writes alone do.
    var backupRollThreshold: Int { configuration.segmentSize / 4 }

    /// Indexes up to this size are copied while the writer is held; larger ones are rebuilt at the
    /// target instead, so that writers never wait for more than a fraction of a second.
    static let backupIndexCopyLimit = 256 << 20

    func backup(to path: String, progress: ((Store.BackupProgress) -> Void)?) throws(KVError) -> Store.BackupReport {
        let clock = ContinuousClock()
        let started = clock.now
        let storePath = directory + "/" + FileNames.manifest
        let manifest = try Manifest.decode(readWholeFile(storePath), path: storePath)
        _ = try views.get()  // a closed store creates no target
        let target = try BackupTarget(path: path, storeID: manifest.storeID, source: directory)
        defer { target.close() }
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try backupOnce(target: target, manifest: manifest, clock: clock, started: started,
                                      progress: progress)
            } catch let error where error.code == .io && error.errno == ENOENT && configuration.readOnly && attempt < 8 {
                // Another process's compaction deleted a file this reader was about to link or
                // copy: capture again (its records are further along the log by now).
                continue
            }
        }
    }

    private func backupOnce(target: BackupTarget, manifest: Manifest, clock: ContinuousClock,
                            started: ContinuousClock.Instant, progress: ((Store.BackupProgress) -> Void)?) throws(KVError) -> Store.BackupReport {
        try target.prepareStaging()
        var committed = false
        defer { if !committed { try? target.removeStaging() } }
        let staging = target.staging
        let prior = target.prior
        // The earlier backup's index is brought forward when it can be (a replay of what is new);
        // otherwise the writer's index is copied while writers wait, or one is rebuilt.
        let priorIndexUsable = prior.map { Self.indexIsClean(at: target.path, covering: $0.position, manifest: manifest) } ?? false

        // From the capture until every file is in place, compaction's deletions wait.
        var pinned = true
        deletions(pin: true)
        defer { if pinned { deletions(pin: false) } }
        var capture: BackupCapture
        if configuration.readOnly {
            capture = try captureAsReader()
        } else {
            capture = try captureAsWriter(copyIndexTo: priorIndexUsable ? nil : staging + "/" + FileNames.index, clock: clock)
        }
        // STORE after the capture: a writer records a feature bit (dictionaries) in it before the
        // first record that needs the feature, so the bits cover every record captured.
        let storePath = directory + "/" + FileNames.manifest
        let storeBytes = try readWholeFile(storePath)
        guard try Manifest.decode(storeBytes, path: storePath).storeID == manifest.storeID else {
            throw KVError(.corruption, "the STORE file changed its store id during the backup", path: storePath)
        }

        var copier = FileCopier()
        var report = Store.BackupReport(target: target.path)
        report.incremental = prior != nil
        report.segmentID = capture.position.segmentID
        report.offset = capture.position.offset
        report.writersHeld = capture.writersHeld
        let names: [String]
        do { names = try Sys.listDirectory(directory) } catch { throw error.kvError("readdir", path: directory) }
        let hints = Set(names.compactMap { FileNames.segmentID(of: $0, suffix: FileNames.hintSuffix) })
        let dictionaryIDs = names.compactMap { FileNames.dictionaryID(of: $0) }.sorted()
        var total = capture.sealed.count + dictionaryIDs.count + 1
        var done = 0
        func tick() {
            done += 1
            progress?(Store.BackupProgress(files: total, filesDone: done, bytesCopied: copier.bytesCopied))
        }
        total += capture.sealed.filter { hints.contains($0.id) }.count

        try copier.write(storeBytes, to: staging + "/" + FileNames.manifest)
        var entries: [BackupManifest.Entry] = []
        var kept = 0
        /// Puts one immutable file in place: from the earlier backup when it holds the same file
        /// (same name, size and fingerprint), else linked from the store, else copied.
        func place(_ kind: BackupManifest.Kind, _ id: UInt32, name: String, size: Int64, mayLink: Bool) throws(KVError) {
            let source = directory + "/" + name
            let fingerprint = try FileFingerprint.of(path: source, size: size).fingerprint
            let destination = staging + "/" + name
            if let old = prior?.entry(kind, id), old.size == size, old.fingerprint == fingerprint,
               mayLink || Self.hasOneName(target.path + "/" + name),
               (try? Sys.link(target.path + "/" + name, destination)) != nil {
                kept += 1
            } else if mayLink {
                try copier.linkOrCopy(source, to: destination, size: size, from: directory)
            } else {
                try copier.copy(source, to: destination, length: size)
            }
            entries.append(BackupManifest.Entry(kind: kind, id: id, size: size, fingerprint: fingerprint))
            tick()
        }

        for id in dictionaryIDs {
            let name = FileNames.dictionary(id)
            let size = try Self.size(of: directory + "/" + name)
            try place(.dictionary, UInt32(id), name: name, size: size, mayLink: true)
        }
        for segment in capture.sealed {
            // Only a segment with a hint is linked: every open of the backup then reads it through
            // its hint, and no recovery of the backup could take its end for a power loss's cut and
            // write zeros into a file it shares with the store.
            let hinted = hints.contains(segment.id)
            try place(.segment, segment.id, name: FileNames.segment(segment.id), size: segment.size, mayLink: hinted)
            if hinted {
                let name = FileNames.hint(segment.id)
                let size = try Self.size(of: directory + "/" + name)
                try place(.hint, segment.id, name: name, size: size, mayLink: true)
            }
        }
        // The last segment is always a copy of its own: a writer that opens the backup appends to it.
        let tailName = FileNames.segment(capture.position.segmentID)
        try copier.copy(directory + "/" + tailName, to: staging + "/" + tailName, length: Int64(capture.position.offset))
        let tailFingerprint = try FileFingerprint.of(path: staging + "/" + tailName, size: Int64(capture.position.offset)).fingerprint
        entries.append(BackupManifest.Entry(kind: .segment, id: capture.position.segmentID, size: Int64(capture.position.offset),
                                            fingerprint: tailFingerprint))
        tick()
        deletions(pin: false)
        pinned = false

        // The index.
        let backupManifest = BackupManifest(storeID: manifest.storeID, position: capture.position, sequence: capture.sequence,
                                            createdAt: UInt64(time(nil)), entries: entries)
        if capture.indexCopied {
            try Self.syncCopiedIndex(in: staging)
            report.index = .copied
        } else if let prior, priorIndexUsable, Self.continues(prior, into: backupManifest),
                  let sequence = try Self.bringIndexForward(from: target.path, to: staging, prior: prior, manifest: manifest,
                                                             capture: capture, hasher: hasher) {
            capture.sequence = sequence
            report.index = .updated
        } else {
            capture.sequence = try Self.rebuildIndex(in: staging, manifest: manifest)
            report.index = .rebuilt
        }
        report.sequence = capture.sequence
        var final = backupManifest
        final.sequence = capture.sequence
        try copier.write(final.encode(), to: staging + "/" + BackupManifest.name)
        try target.commit { committed = true }

        report.filesLinked = copier.linked
        report.filesCopied = copier.copied
        report.filesKept = kept
        report.bytesCopied = copier.bytesCopied + Int64(capture.indexBytes)
        let before = Set(prior?.entries.filter { $0.kind == .segment }.map(\.id) ?? [])
        let after = Set(entries.filter { $0.kind == .segment }.map(\.id))
        report.segmentsAdded = after.subtracting(before).count
        report.segmentsDropped = before.subtracting(after).count
        report.duration = clock.now - started
        return report
    }

    /// A file's size from `fstat` (place() reads its fingerprint itself); a missing file is the
    /// `ENOENT` a read-only backup starts again on.
    static func size(of path: String) throws(KVError) -> Int64 {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch { throw error.kvError("open", path: path) }
        defer { Sys.close(fd) }
        do { return try Sys.fileSize(fd) } catch { throw error.kvError("fstat", path: path) }
    }

    /// Whether the file at `path` has no other name (it shares its inode with no store).
    static func hasOneName(_ path: String) -> Bool {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return false }
        defer { Sys.close(fd) }
        return (try? Sys.linkCount(fd)) == 1
    }

    private func deletions(pin: Bool) {
        if pin { dictionaries.deletions.pin() } else { dictionaries.deletions.unpin(directory: directory) }
    }

    // MARK: - Capture

    /// Under the writer's lock: seals the active segment when it holds enough to be worth it,
    /// notes where the log ends, and copies the index when asked. Then waits for the sealer, so
    /// that the segment just sealed is synced and hinted (and can be linked).
    private func captureAsWriter(copyIndexTo indexPath: String?, clock: ContinuousClock) throws(KVError) -> BackupCapture {
        var capture = BackupCapture(position: LogPosition(segmentID: 0, offset: 0), sequence: 0, sealed: [])
        // A backup that is itself backed up (to restore it) is not sealed: that would add a
        // segment to it, and the next backup into it would then be refused as written to.
        let threshold = Sys.kind(of: directory + "/" + BackupManifest.name) == .missing ? backupRollThreshold : Int.max
        var copy: UnsafeMutableRawPointer? = nil
        defer { if let copy { Sys.unmap(copy, length: capture.indexBytes) } }
        try withWriter { (w) throws(KVError) in
            let held = clock.now
            // A store that refuses writes (a failed sync, an index found inconsistent) holds
            // nothing a backup may call consistent: its page cache or its table is suspect.
            try coordinator.checkFailure()
            if w.active.end - SegmentHeader.size >= threshold { try w.sealForBackup() }
            capture.position = LogPosition(segmentID: w.active.id, offset: w.active.end)
            capture.sequence = w.lastSequence
            for file in w.segments.all where file.id < w.active.id {
                capture.sealed.append((file.id, Int64(try file.size())))
            }
            // The index is copied into memory while writers wait (a memory copy, never throttled by
            // the kernel's writeback as a write into the page cache can be), written out after.
            if indexPath != nil, w.index.file.length <= Self.backupIndexCopyLimit, !w.index.isMarkedInconsistent,
               let buffer = try? Sys.mapAnonymous(length: w.index.file.length) {
                let page = IndexHeader.pageSize
                let header = w.index.cleanHeaderCopy(covered: capture.position, sequence: capture.sequence)
                header.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: page) }
                (buffer + page).copyMemory(from: w.index.file.base + page, byteCount: w.index.file.length - page)
                copy = buffer
                capture.indexBytes = w.index.file.length
                capture.indexCopied = true
            }
            capture.writersHeld = clock.now - held
        }
        if let copy, let indexPath {
            let fd: Int32
            do { fd = try Sys.open(indexPath, O_WRONLY | O_CREAT | O_EXCL) } catch { throw error.kvError("open", path: indexPath) }
            defer { Sys.close(fd) }
            do { try Sys.pwrite(fd, copy, capture.indexBytes, 0) } catch { throw error.kvError("pwrite", path: indexPath) }
            // Written back while the rest is placed; synced before the backup is swapped in.
            Sys.startWriteback(fd, length: capture.indexBytes)
        }
        // The segment sealed just now (and any before it) synced and hinted.
        sealer.drain()
        return capture
    }

    /// For a read-only handle (a live reader of another process's store, or a store no writer has
    /// open): the end of the log is the index's `covered`, which the writer stores after every
    /// write's records and slots; the files are found by listing the directory around that load.
    private func captureAsReader() throws(KVError) -> BackupCapture {
        for _ in 0..<20 {
            let before = try segmentIDs()
            var view = try views.get()
            if let live { view = try live.current(view) }
            let position = view.index.covered
            let after = try segmentIDs()
            let lastBefore = before.last ?? 0
            // Nothing deleted around the load (or the records it held might be neither in the files
            // listed nor before the position), and every segment the writer rolled to is there.
            let deleted = before.filter { $0 < position.segmentID && !after.contains($0) }
            let rolled = lastBefore < position.segmentID ? Array((lastBefore + 1)..<position.segmentID) : []
            guard deleted.isEmpty, rolled.allSatisfy(after.contains), after.contains(position.segmentID),
                  position.offset >= SegmentHeader.size else { continue }
            var sealed: [(id: UInt32, size: Int64)] = []
            for id in after where id < position.segmentID {
                let path = directory + "/" + FileNames.segment(id)
                guard let size = BackupTarget.size(of: path) else { break }
                sealed.append((id, size))
            }
            guard sealed.count == after.filter({ $0 < position.segmentID }).count else { continue }
            // The sequence is the index's (or the rebuild's) once the backup's index is made.
            return BackupCapture(position: position, sequence: 0, sealed: sealed)
        }
        throw KVError(.io, "the store's files kept changing while the backup looked at them (compaction in another process); try again",
                      path: directory)
    }

    private func segmentIDs() throws(KVError) -> [UInt32] {
        do throws(Errno) {
            return try Sys.listDirectory(directory).compactMap { FileNames.segmentID(of: $0, suffix: FileNames.segmentSuffix) }.sorted()
        } catch { throw error.kvError("readdir", path: directory) }
    }

    // MARK: - The index

    /// Whether the index in the earlier backup can be brought forward: clean, of this store, and
    /// ending exactly where that backup's manifest says.
    static func indexIsClean(at directory: String, covering position: LogPosition, manifest: Manifest) -> Bool {
        guard let (index, trust) = try? HashIndex.open(path: directory + "/" + FileNames.index, storeID: manifest.storeID,
                                                       hashSeed: manifest.hashSeed, bootID: BootID.current(), writable: false)
        else { return false }
        return trust == .clean && index.covered == position
    }

    /// Whether `next` continues the history `prior` holds: every segment of the earlier backup that
    /// is still in the store is the same file (name, size, fingerprint), and its last one is still
    /// there and begins with the bytes it copied. A store restored from a backup and written again
    /// has a history of its own, and fails this.
    static func continues(_ prior: BackupManifest, into next: BackupManifest) -> Bool {
        guard prior.storeID == next.storeID, prior.position <= next.position else { return false }
        let tail = prior.position.segmentID
        guard next.entry(.segment, tail) != nil else { return false }
        for old in prior.entries where old.kind == .segment && old.id != tail {
            if let new = next.entry(.segment, old.id), new.size != old.size || new.fingerprint != old.fingerprint { return false }
        }
        return true
    }

    /// Syncs the index copied while the writer was held (its header already says clean at the
    /// captured position).
    static func syncCopiedIndex(in staging: String) throws(KVError) {
        let path = staging + "/" + FileNames.index
        let fd: Int32
        do { fd = try Sys.open(path, O_RDWR) } catch { throw error.kvError("open", path: path) }
        defer { Sys.close(fd) }
        do { try Sys.fdatasync(fd) } catch { throw error.kvError("fdatasync", path: path) }
    }

    /// Moves the earlier backup's index into the new one and applies the records written since
    /// (a replay, as after a crash: FORMAT.md §6, item 3), then drops what points into segments
    /// compaction retired since. Returns the last sequence, or `nil` when the log does not fit
    /// the index (then the caller rebuilds). The earlier backup is left without an index, which
    /// only makes its next open rebuild one: it still holds the same contents.
    static func bringIndexForward(from old: String, to staging: String, prior: BackupManifest, manifest: Manifest,
                                  capture: BackupCapture, hasher: KeyHasher) throws(KVError) -> UInt64? {
        let path = staging + "/" + FileNames.index
        // Everything that can say no before the earlier backup gives its index up: the new
        // backup's copy of the earlier one's last segment begins with the bytes that one held,
        // and the new backup's segments open.
        guard let priorTail = prior.entry(.segment, prior.position.segmentID),
              let now = try? FileFingerprint.of(path: staging + "/" + FileNames.segment(prior.position.segmentID), size: priorTail.size),
              now.fingerprint == priorTail.fingerprint else { return nil }
        do {
            let descriptors = DescriptorCache(limit: DescriptorCache.defaultLimit())
            defer { descriptors.closeAll() }
            var report = Store.RecoveryReport()
            let names: [String]
            do { names = try Sys.listDirectory(staging) } catch { throw error.kvError("readdir", path: staging) }
            _ = try StoreEngine.openSegments(names: names, directory: staging, storeID: manifest.storeID, descriptors: descriptors,
                                             removeUnwrittenLast: false, report: &report)
            guard report.problems.isEmpty else { return nil }
        }
        do { try Sys.rename(old + "/" + FileNames.index, path) } catch { throw error.kvError("rename", path: path) }
        // The mapping goes before the index is synced: writing back pages that a mapping holds
        // write-protects them one by one, and each of those TLB flushes interrupts the writer's
        // threads in this process. Unmapped, the same pages are written back by the descriptor.
        guard let (header, sequence) = try replayIntoMovedIndex(path: path, old: old, staging: staging, prior: prior, manifest: manifest,
                                                              capture: capture, hasher: hasher) else { return nil }
        let fd: Int32
        do { fd = try Sys.open(path, O_RDWR) } catch { throw error.kvError("open", path: path) }
        defer { Sys.close(fd) }
        do throws(Errno) {
            try header.withBytes { raw throws(Errno) in try Sys.pwrite(fd, raw.baseAddress!, raw.count, 0) }
            try Sys.fdatasync(fd)
        } catch { throw error.kvError("fdatasync", path: path) }
        return sequence
    }

    /// The replay of ``bringIndexForward``: returns the clean header page to write and the last
    /// sequence, the index unmapped again by the time it returns.
    private static func replayIntoMovedIndex(path: String, old: String, staging: String, prior: BackupManifest, manifest: Manifest,
                                             capture: BackupCapture, hasher: KeyHasher) throws(KVError) -> ([UInt8], UInt64)? {
        let bootID = BootID.current()
        guard let (index, _) = try HashIndex.open(path: path, storeID: manifest.storeID, hashSeed: manifest.hashSeed, bootID: bootID),
              index.covered == prior.position else {
            // Unchanged so far: it goes back to the earlier backup.
            _ = try? Sys.rename(path, old + "/" + FileNames.index)
            return nil
        }
        let descriptors = DescriptorCache(limit: DescriptorCache.defaultLimit())
        defer { descriptors.closeAll() }
        var report = Store.RecoveryReport()
        let names: [String]
        do { names = try Sys.listDirectory(staging) } catch { throw error.kvError("readdir", path: staging) }
        let (files, _) = try StoreEngine.openSegments(names: names, directory: staging, storeID: manifest.storeID, descriptors: descriptors,
                                                      removeUnwrittenLast: false, report: &report)
        guard report.problems.isEmpty,
              let log = try StoreEngine.replay(index: index, trust: .sameBoot, files: files, directory: staging, hasher: hasher, bootID: bootID),
              log.end == capture.position, log.problems.isEmpty, log.tornTail == nil else { return nil }
        let table = SegmentTable(files)
        var stale: [Int] = []
        log.index.forEachLive { slot, _, word in
            if table.file(Location(word: word).segmentID) == nil { stale.append(slot) }
        }
        for slot in stale { log.index.remove(slot: slot) }
        let (live, tombstones) = log.index.recount()
        log.index.setCounts(live: live, tombstones: tombstones)
        let sequence = max(log.lastSequence, prior.sequence)
        return (log.index.cleanHeaderCopy(covered: capture.position, sequence: sequence), sequence)
    }

    /// Rebuilds the index of the assembled backup from its own files (an open that ignores any
    /// index, then a clean close). Returns the last sequence. A backup whose log the rebuild
    /// finds damaged is not made: the store's own files hold that damage.
    static func rebuildIndex(in staging: String, manifest: Manifest) throws(KVError) -> UInt64 {
        _ = try? Sys.unlink(staging + "/" + FileNames.index)
        var configuration = Store.Configuration()
        configuration.rebuildIndex = true
        configuration.trainsDictionaries = false
        // Nothing mapped, and the last segment continued at the smallest capacity (the clean
        // close truncates it back to its records).
        configuration.mappingBudget = 0
        configuration.segmentSize = Limits.minimumSegmentSize
        configuration.automaticCompaction = nil
        let engine = try StoreEngine.open(path: staging, configuration: configuration)
        let recovery = engine.recovery
        try engine.close()
        if let problem = recovery.problems.first { throw problem }
        guard recovery.setAsideSegments.isEmpty else {
            throw KVError(.corruption, "the store's log ends early in a sealed segment: verify the store", path: staging)
        }
        guard let (index, _) = try HashIndex.open(path: staging + "/" + FileNames.index, storeID: manifest.storeID,
                                                  hashSeed: manifest.hashSeed, bootID: BootID.current(), writable: false) else {
            throw KVError(.io, "the index rebuilt for the backup does not open", path: staging + "/" + FileNames.index)
        }
        return index.lastSequence
    }
}
