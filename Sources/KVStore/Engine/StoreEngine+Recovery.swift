#if canImport(Glibc)
import Glibc
#endif

/// Opening a store for writing after the lock is taken: FORMAT.md §6, one named step each.
extension StoreEngine {
    /// Opens a store for writing, step by step as FORMAT.md §6 describes: the segments, the index
    /// (trusted, replayed or rebuilt), segments past a power loss's cut set aside, the active
    /// segment continued or started, then the writer.
    static func recover(directory: String, names: [String], manifest: Manifest, configuration: Store.Configuration,
                                lock: StoreLock) throws(KVError) -> StoreEngine {
        let storeID = manifest.storeID
        let hasher = configuration.hasher ?? .wyhash(seed: manifest.hashSeed)
        let bootID = configuration.bootID ?? BootID.current()
        var report = Store.RecoveryReport()
        let descriptors = DescriptorCache(limit: configuration.maximumOpenFiles ?? DescriptorCache.defaultLimit())

        var (files, newestOnDisk) = try openSegments(names: names, directory: directory, storeID: storeID, descriptors: descriptors,
                                                     removeUnwrittenLast: true, report: &report)
        // A directory that is refused is left as it was found: only now does the writer lock (and
        // perhaps create) LOCK, for older builds that lock only it.
        try lock.lockLegacyFile()
        // Leftovers of an interrupted rename (index growth, hint or STORE writes) are never live.
        for name in names where name.hasSuffix(FileNames.temporarySuffix) {
            _ = try? Sys.unlink(directory + "/" + name)
        }
        // Numbers are never reused, not even a damaged newest segment's.
        let ids = names.compactMap { FileNames.segmentID(of: $0, suffix: FileNames.segmentSuffix) }
        let nextSegmentID = (ids.max() ?? 0) + 1

        // Where this directory's index may live in shared memory: derived once (a `stat` of the
        // directory) for the open, the writer's growths and its close.
        let residence = IndexResidence(storeDirectory: directory, storeID: storeID, sharedMemoryDirectory: configuration.sharedMemoryDirectory)
        var (log, wipeLimit) = try bringIndexUpToDate(files: files, directory: directory, manifest: manifest, configuration: configuration,
                                                      residence: residence,
                                                      hasher: hasher, bootID: bootID, report: &report)
        if !log.lost.isEmpty {
            files = try setAside(log.lost, from: files, report: &report)
            newestOnDisk = files.last?.id
        }

        let coordinator = SyncCoordinator(directory: directory, directoryDescriptor: lock.directoryDescriptor, writtenSequence: log.lastSequence)
        let active = try continueOrStartActiveSegment(files: &files, newestOnDisk: newestOnDisk, log: &log, wipeLimit: wipeLimit,
                                                      nextSegmentID: nextSegmentID, directory: directory, storeID: storeID,
                                                      configuration: configuration, descriptors: descriptors, coordinator: coordinator,
                                                      report: &report)
        var index = log.index
        index.setCovered(log.end, sequence: log.lastSequence)
        if index.capacity < HashIndex.capacity(forLiveKeys: configuration.expectedKeyCount) {
            index = try index.grow(directory: directory, adding: configuration.expectedKeyCount - index.liveCount, bootID: bootID,
                                   residence: residence, placement: configuration.indexPlacement)
        }
        index = try placeIndex(index, residence: residence, directory: directory, placement: configuration.indexPlacement)
        if configuration.lockIndexInMemory { try index.lockInMemory() }
        // The index is whole now (a half-applied batch was replayed), and it is the store's.
        index.setApplyingBatch(nil)
        index.clearReplacedMark()
        try index.markOpen(bootID: bootID)

        let segments = SegmentTable(files)
        let views = ViewBox(ReadView(index: index, segments: segments))
        descriptors.setOnChange { [views] in views.publish(descriptors: $0) }
        // Sealed segments were truncated to their records before they were sealed (``Writer``'s
        // roll), and are never written again: they may be mapped.
        let mappings = MappingManager(budget: configuration.mappingBudget, views: views,
                                      mapsEverything: configuration.mapsEverySealedSegment,
                                      decidesInBackground: configuration.decidesMappingsInBackground) { file, _ in
            file.state >= .sealed && file.state < .retired
        }
        let manifestFile = ManifestFile(directory: directory, manifest: manifest)
        let sealer = Sealer(directory: directory, storeID: storeID, coordinator: coordinator, manifest: manifestFile)
        let dictionaries = try DictionaryShelf(directory: directory, storeID: storeID)
        let unhinted = files.dropLast().filter { $0.state < .hinted }
        if !unhinted.isEmpty { sealer.writeMissingHints(Array(unhinted)) }
        var writerConfiguration = configuration
        writerConfiguration.bootID = bootID
        let writer = Writer(directory: directory, storeID: storeID, hasher: hasher, configuration: writerConfiguration, views: views,
                            coordinator: coordinator, sealer: sealer, active: active, index: index, segments: segments,
                            nextSequence: log.lastSequence + 1, mappings: mappings, dictionaries: dictionaries, manifest: manifestFile,
                            indexResidence: residence)
        return StoreEngine(directory: directory, configuration: configuration, hasher: hasher, views: views, writer: writer,
                           coordinator: coordinator, sealer: sealer, lock: lock, descriptors: descriptors, mappings: mappings,
                           dictionaries: dictionaries, recovery: report)
    }

    /// The index where ``Store/Configuration/indexPlacement`` wants it: moved into shared memory or
    /// back into the store directory when it is not there (a table in shared memory that has no
    /// room stays where it is), and this store's leftovers in shared memory removed.
    static func placeIndex(_ index: HashIndex, residence: IndexResidence?, directory: String,
                           placement: Store.IndexPlacement) throws(KVError) -> HashIndex {
        var placed = index
        let inSharedMemory = index.sharedMemoryPath != nil
        // A table already in shared memory stays unless told otherwise: its own bytes are part of
        // what the memory file system has used, so asking for room again would move it out.
        if inSharedMemory && placement == .file {
            placed = try index.moved(into: nil, directory: directory, mapped: true) ?? index
        } else if !inSharedMemory, let residence, residence.accepts(length: index.file.length, placement: placement) {
            placed = try index.moved(into: residence, directory: directory, mapped: true) ?? index
        }
        residence?.sweep(keeping: placed.sharedMemoryPath)
        return placed
    }

    /// The segments, oldest first, headers checked, states recovered. A segment whose header is
    /// damaged is reported and left out; with `removeUnwrittenLast`, a last one too short for its
    /// header (being created when the process died: it holds no record) is removed. Returns the
    /// files and the id of the newest segment on disk that is still there.
    static func openSegments(names: [String], directory: String, storeID: UInt64, descriptors: DescriptorCache,
                                     removeUnwrittenLast: Bool, report: inout Store.RecoveryReport) throws(KVError) -> ([SegmentFile], UInt32?) {
        let ids = names.compactMap { FileNames.segmentID(of: $0, suffix: FileNames.segmentSuffix) }.sorted()
        var files: [SegmentFile] = []
        var newestOnDisk = ids.last
        var unwrittenLast: String? = nil
        for (i, id) in ids.enumerated() {
            do {
                files.append(try SegmentFile.open(directory: directory, id: id, storeID: storeID, descriptors: descriptors))
            } catch let error where error.code == .corruption {
                let path = directory + "/" + FileNames.segment(id)
                let unwritten = headerIsUnwritten(path)
                if removeUnwrittenLast && unwritten && i == ids.count - 1 {
                    unwrittenLast = path
                    newestOnDisk = i > 0 ? ids[i - 1] : nil
                } else if !unwritten || removeUnwrittenLast {
                    // A read-only open, which removes nothing, does not report a segment that
                    // holds nothing either.
                    report.problems.append(error)
                }
            }
        }
        try checkSegmentsBelong(files: files, problems: report.problems, directory: directory)
        if let unwrittenLast {
            _ = try? Sys.unlink(unwrittenLast)
            report.removedEmptySegment = true
        }
        recoverStates(files, directory: directory)
        return (files, newestOnDisk)
    }

    /// The index, trusted as it is, brought up to date from `covered`, or rebuilt from the log
    /// (FORMAT.md §6). Also returns how far past the log's end the last segment may hold bytes
    /// that were never published: `nil` when unknown (after a power loss), then the whole tail
    /// is wiped.
    static func bringIndexUpToDate(files: [SegmentFile], directory: String, manifest: Manifest, configuration: Store.Configuration,
                                           residence: IndexResidence?, hasher: KeyHasher, bootID: [UInt8],
                                           report: inout Store.RecoveryReport) throws(KVError) -> (RecoveredLog, Int?) {
        let indexPath = directory + "/" + FileNames.index
        let opened = files.isEmpty || configuration.rebuildIndex ? nil
            : try HashIndex.open(path: indexPath, storeID: manifest.storeID, hashSeed: manifest.hashSeed, bootID: bootID,
                                 residence: residence)
        // Why an index file that exists is not used: worth reporting when it is damage.
        var distrust: String? = nil
        if let (existing, trust) = opened {
            do {
                if let log = try replay(index: existing, trust: trust, files: files, directory: directory, hasher: hasher, bootID: bootID) {
                    report.problems += log.problems
                    report.replayedRecords = log.replayedRecords
                    report.indexTrust = trust == .clean ? .clean : .replayed
                    let limit = existing.writeLimit
                    let wipeLimit = trust == .sameBoot && limit.segmentID == log.end.segmentID ? max(log.end.offset, limit.offset) : log.end.offset
                    return (log, wipeLimit)
                }
            }
            catch where error.code == .io { throw error }  // a read that failed is not a reason to rebuild
            catch { distrust = "the index could not be brought up to date (\(error.message))" }
        } else if !files.isEmpty {
            distrust = HashIndex.distrustReason(path: indexPath)
        }
        var rebuilder = IndexRebuilder(directory: directory, storeID: manifest.storeID, hashSeed: manifest.hashSeed, hasher: hasher,
                                       bootID: bootID)
        rebuilder.expectedKeys = configuration.expectedKeyCount
        rebuilder.progress = configuration.rebuildProgress
        rebuilder.windowBytes = configuration.rebuildWindowBytes
        rebuilder.windowSpill = configuration.rebuildWindowSpill
        let temporary = indexPath + FileNames.temporarySuffix
        let log = try rebuilder.rebuild(segments: files, path: temporary, generation: (opened?.0.generation ?? 0) + 1)
        try log.index.syncAll()
        // A link into this directory's shared memory that was not trusted still names the file
        // readers may map: it is marked replaced and removed like any table this one replaces.
        let replacedSharedMemory = opened?.0.sharedMemoryPath ?? Sys.linkTarget(indexPath).flatMap { residence?.owns($0) == true ? $0 : nil }
        try HashIndex.replace(indexPath, with: temporary, sharedMemoryPath: replacedSharedMemory)
        do { try Sys.syncDirectory(directory) } catch { throw error.kvError("fsync", path: directory) }
        report.problems += log.problems
        if let distrust { report.problems.append(KVError(.corruption, distrust + "; rebuilt it from the log", path: indexPath, offset: 0)) }
        report.indexTrust = files.isEmpty ? .new : .rebuilt
        return (log, nil)
    }

    /// Segments past a power loss's cut are set aside under another name, not deleted: `kvtool
    /// salvage` can still read them. Returns the files that stay.
    static func setAside(_ lost: [SegmentFile], from files: [SegmentFile],
                                 report: inout Store.RecoveryReport) throws(KVError) -> [SegmentFile] {
        for file in lost {
            // A second cut can reach a number set aside by an earlier one (the writer numbers on
            // from the segment it continues): never rename over what an earlier cut kept.
            var target = file.path + FileNames.lostSuffix
            var attempt = 1
            while Sys.kind(of: target) != .missing {
                target = file.path + ".\(attempt)" + FileNames.lostSuffix
                attempt += 1
            }
            do { try Sys.rename(file.path, target) } catch {
                throw error.kvError("rename", path: file.path)
            }
            report.setAsideSegments.append(target)
        }
        let lostIDs = Set(lost.map(\.id))
        return files.filter { !lostIDs.contains($0.id) }
    }

    /// The active segment: the newest one, continued after its last valid record with whatever a
    /// crash left past that point wiped, so that no abandoned bytes can ever pass for a record; or,
    /// when the newest on disk is damaged (it stays as it is, reported), a new one after it.
    /// Segments that may hold records only in the page cache are handed to the coordinator.
    static func continueOrStartActiveSegment(files: inout [SegmentFile], newestOnDisk: UInt32?, log: inout RecoveredLog,
                                                     wipeLimit: Int?, nextSegmentID: UInt32, directory: String, storeID: UInt64,
                                                     configuration: Store.Configuration, descriptors: DescriptorCache,
                                                     coordinator: SyncCoordinator,
                                                     report: inout Store.RecoveryReport) throws(KVError) -> ActiveSegment {
        let canContinueLast = files.last != nil && files.last?.id == newestOnDisk
        if canContinueLast, let last = files.last, last.id == log.end.segmentID {
            let writable = try last.openForWriting()
            try wipeTail(of: last, through: writable, log: log, wipeLimit: wipeLimit, configuration: configuration, report: &report)
            // A hint file for the segment being appended to would go stale.
            _ = try? Sys.unlink(directory + "/" + FileNames.hint(last.id))
            // Sealed segments with a hint were synced before the hint was written; the others
            // (a crash came between the roll and the hint) may hold records only in the page cache.
            try noteUnsynced(files.dropLast(), coordinator: coordinator)
            let active = try ActiveSegment.resume(file: last, descriptor: writable, end: log.end.offset, capacity: configuration.segmentSize)
            coordinator.noteActive(last, created: false)
            return active
        }
        try noteUnsynced(files[...], coordinator: coordinator)
        let active = try ActiveSegment.create(directory: directory, id: nextSegmentID, storeID: storeID, capacity: configuration.segmentSize,
                                              descriptors: descriptors)
        coordinator.noteActive(active.file, created: true)
        files.append(active.file)
        log.end = LogPosition(segmentID: active.id, offset: active.end)
        return active
    }

    /// Hands the segments without a hint (a crash came between a roll and the hint, or the hint
    /// cannot be built) to the coordinator, which syncs them before their hints are written. The
    /// newest few keep a descriptor pinned so that syncing them needs no new one; more than that
    /// (segments whose hint can never be built, say) would let pins grow without bound, so the
    /// older ones are synced through the cache.
    private static func noteUnsynced(_ files: ArraySlice<SegmentFile>, coordinator: SyncCoordinator) throws(KVError) {
        let unhinted = files.filter { $0.state < .hinted }
        for (i, file) in unhinted.enumerated() {
            if unhinted.count - i <= 8 { try file.pin() }
            coordinator.noteActive(file, created: false)
        }
    }

    /// Zeros the continued segment from the end of its log: the torn tail to the end of the file,
    /// or, after a process crash, up to where the writer may have written.
    static func wipeTail(of last: SegmentFile, through writable: SegmentDescriptor, log: RecoveredLog, wipeLimit: Int?,
                                 configuration: Store.Configuration, report: inout Store.RecoveryReport) throws(KVError) {
        let size = try last.size()
        let wipeStart = log.tornTail ?? log.end.offset
        let wipeEnd = log.tornTail != nil ? size : min(size, wipeLimit ?? size)
        guard wipeEnd > wipeStart else { return }
        if log.tornTail != nil || wipeLimit != nil {
            // A file shorter than a preallocated segment was cut: all of its tail is the torn
            // record. In a preallocated one, count to the last non-zero byte, to 8-byte precision
            // (a record's own last bytes may be zero).
            var written = wipeEnd
            if size >= configuration.segmentSize {
                written = min(wipeEnd, alignedTo8(try lastNonZeroByte(in: last, from: wipeStart, to: wipeEnd)))
            }
            report.droppedTailBytes = max(0, written - wipeStart)
        }
        do { try Sys.zeroRange(writable.fd, offset: Int64(wipeStart), length: Int64(wipeEnd - wipeStart)) } catch {
            throw error.kvError("fallocate", path: last.path)
        }
    }

    /// Each segment's state as the disk shows it (FORMAT.md §6.1): a segment with a hint file was
    /// synced before the hint was written; one without may hold records only in the page cache.
    /// The one recovery continues becomes active when it is resumed.
    static func recoverStates(_ files: [SegmentFile], directory: String) {
        for file in files {
            file.lifecycle.recover(as: Sys.kind(of: directory + "/" + FileNames.hint(file.id)) == .file ? .hinted : .sealed)
        }
    }

    /// Refuses a directory whose segments all name another store: its `STORE` file was replaced
    /// (by another store's, or by a second creator), and opening it as an empty store that accepts
    /// writes would hide every record. A few foreign segments beside the store's own are only
    /// reported (a file copied in by mistake).
    static func checkSegmentsBelong(files: [SegmentFile], problems: [KVError], directory: String) throws(KVError) {
        let foreign = problems.filter { $0.message == SegmentFile.foreignStoreMessage }
        guard files.isEmpty, let first = foreign.first else { return }
        throw KVError(.corruption, "the STORE file does not belong to the segments in this directory (\(foreign.count) segment(s) "
                      + "name another store); put the store's own STORE file back, or recover the records with kvtool salvage",
                      path: first.path ?? directory, offset: first.offset)
    }

    /// The offset just past the last non-zero byte in `[from, to)` of `file` (`from` if all zero):
    /// how much of a dropped tail held anything. Reads backwards a megabyte at a time and stops at
    /// the first non-zero word, so a preallocated tail of zeros costs one pass at most.
    static func lastNonZeroByte(in file: SegmentFile, from: Int, to: Int) throws(KVError) -> Int {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var end = to
        while end > from {
            let start = max(from, end - chunk)
            let n = try file.read(into: buffer, count: end - start, at: start)
            var i = n
            while i >= 8 && buffer.loadUnaligned(fromByteOffset: i - 8, as: UInt64.self) == 0 { i -= 8 }
            while i > 0 && buffer.load(fromByteOffset: i - 1, as: UInt8.self) == 0 { i -= 1 }
            if i > 0 { return start + i }
            end = start
        }
        return from
    }

    /// Whether a segment file is shorter than its header or its header is all zeros: a segment
    /// whose creation was cut short, which cannot hold any record.
    static func headerIsUnwritten(_ path: String) -> Bool {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return false }
        defer { Sys.close(fd) }
        var header = [UInt8](repeating: 0, count: SegmentHeader.size)
        guard let n = try? header.withUnsafeMutableBytes({ raw throws(Errno) in try Sys.pread(fd, raw.baseAddress!, raw.count, 0) }) else { return false }
        return n < SegmentHeader.size || header.allSatisfy { $0 == 0 }
    }
}
