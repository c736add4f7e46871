#if canImport(Glibc)
import Glibc
#endif

/// Opening a store: the directory checks, the lock, and recovery (FORMAT.md §6).
extension StoreEngine {
    static func open(path: String, configuration: Store.Configuration) throws(KVError) -> StoreEngine {
        try configuration.validate()
        let directory = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard !directory.isEmpty else { throw KVError(.invalidArgument, "the store path is empty") }

        // 1. The directory: create it, or make sure it is a store (or empty) before touching it.
        switch Sys.kind(of: directory) {
        case .missing where configuration.readOnly: throw KVError(.notAStore, "there is no store at this path", path: directory)
        case .missing: try makeDirectories(directory)
        case .directory: break
        case .file, .other: throw KVError(.notAStore, "the path is not a directory", path: directory)
        }
        // 2. The lock, before anything about the directory is decided: a creator that looked first
        // could see "no STORE yet" while another process creates, fills and closes the store, and
        // then write a second STORE over the first one.
        let lock = try StoreLock.acquire(directory: directory)

        // 3. Under the lock (released by its deinit if this throws): a store, an empty directory to
        // make one in, or something else.
        let manifestPath = directory + "/" + FileNames.manifest
        var names: [String]
        do { names = try Sys.listDirectory(directory) } catch { throw error.kvError("opendir", path: directory) }
        let manifest: Manifest
        if names.contains(FileNames.manifest) {
            manifest = try Manifest.decode(readWholeFile(manifestPath), path: manifestPath)
            try manifest.checkFeatures(readOnly: configuration.readOnly, path: manifestPath)
        } else if configuration.readOnly {
            throw KVError(.notAStore, "the directory holds no STORE file", path: directory)
        } else if names.contains(where: { $0 != FileNames.lock && $0 != FileNames.manifest + FileNames.temporarySuffix }) {
            throw KVError(.notAStore, "the directory is not empty and holds no STORE file", path: directory)
        } else {
            manifest = Manifest(storeID: .random(in: 1...UInt64.max), hashSeed: .random(in: 0...UInt64.max),
                                createdAt: UInt64(max(0, time(nil))))
            try writeFileAtomically(path: manifestPath, bytes: manifest.encode(), directory: directory)
            do { names = try Sys.listDirectory(directory) } catch { throw error.kvError("opendir", path: directory) }
        }
        if configuration.readOnly {
            return try openReadOnly(directory: directory, names: names, manifest: manifest, configuration: configuration, lock: lock)
        }
        try lock.lockLegacyFile()
        return try recover(directory: directory, names: names, manifest: manifest, configuration: configuration, lock: lock)
    }

    /// Opens without changing any file in the directory: no recovery writes, no hint files, no
    /// index changes. An index that was not closed cleanly is rebuilt into a temporary file outside
    /// the store (removed at once; it lives as long as its mapping). Writes throw `.readOnly`.
    private static func openReadOnly(directory: String, names: [String], manifest: Manifest, configuration: Store.Configuration,
                                     lock: StoreLock) throws(KVError) -> StoreEngine {
        let hasher = configuration.hasher ?? .wyhash(seed: manifest.hashSeed)
        let bootID = configuration.bootID ?? BootID.current()
        var report = Store.RecoveryReport()
        let descriptors = DescriptorCache(limit: configuration.maximumOpenFiles ?? DescriptorCache.defaultLimit())
        var files: [SegmentFile] = []
        for id in names.compactMap({ FileNames.segmentID(of: $0, suffix: FileNames.segmentSuffix) }).sorted() {
            do { files.append(try SegmentFile.open(directory: directory, id: id, storeID: manifest.storeID, descriptors: descriptors)) }
            catch let error where error.code == .corruption {
                if !headerIsUnwritten(directory + "/" + FileNames.segment(id)) { report.problems.append(error) }
            }
        }
        try checkSegmentsBelong(files: files, problems: report.problems, directory: directory)
        recoverStates(files, directory: directory)
        let indexPath = directory + "/" + FileNames.index
        var index: HashIndex? = nil
        if !configuration.rebuildIndex,
           let (existing, trust) = try HashIndex.open(path: indexPath, storeID: manifest.storeID, hashSeed: manifest.hashSeed,
                                                      bootID: bootID, writable: false),
           trust == .clean, let last = files.last, existing.covered.segmentID == last.id,
           (try? last.size()) == existing.covered.offset {
            index = existing
            report.indexTrust = .clean
        }
        if index == nil {
            let temporary = temporaryDirectory() + "/kvstore-readonly-\(UInt64.random(in: 0...UInt64.max)).index"
            let rebuilder = IndexRebuilder(directory: directory, storeID: manifest.storeID, hashSeed: manifest.hashSeed,
                                           hasher: hasher, bootID: bootID)
            let outcome = try rebuilder.rebuild(segments: files, path: temporary, generation: 0)
            _ = try? Sys.unlink(temporary)
            report.problems += outcome.problems
            report.setAsideSegments = outcome.lost.map(\.path)
            let lostIDs = Set(outcome.lost.map(\.id))
            files.removeAll { lostIDs.contains($0.id) }
            index = outcome.index
            report.indexTrust = files.isEmpty ? .new : .rebuilt
        }
        let views = ViewBox(ReadView(index: index!, segments: SegmentTable(files)))
        descriptors.setOnChange { [views] in views.publish(descriptors: $0) }
        let coordinator = SyncCoordinator(directory: directory, directoryDescriptor: lock.directoryDescriptor, writtenSequence: index!.lastSequence)
        return StoreEngine(directory: directory, configuration: configuration, hasher: hasher, views: views, writer: nil,
                           coordinator: coordinator, sealer: Sealer(directory: directory, storeID: manifest.storeID, coordinator: coordinator),
                           lock: lock, descriptors: descriptors, recovery: report)
    }

    private static func temporaryDirectory() -> String {
        if let value = getenv("TMPDIR"), let path = String(validatingCString: value), !path.isEmpty { return path }
        return "/tmp"
    }

    private static func makeDirectories(_ directory: String) throws(KVError) {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if Sys.kind(of: prefix) == .missing {
                do { try Sys.makeDirectory(prefix) } catch where error == .exists {} catch { throw error.kvError("mkdir", path: prefix) }
            }
        }
    }

    private static func recover(directory: String, names: [String], manifest: Manifest, configuration: Store.Configuration,
                                lock: StoreLock) throws(KVError) -> StoreEngine {
        let storeID = manifest.storeID
        let hasher = configuration.hasher ?? .wyhash(seed: manifest.hashSeed)
        let bootID = configuration.bootID ?? BootID.current()
        var report = Store.RecoveryReport()
        let descriptors = DescriptorCache(limit: configuration.maximumOpenFiles ?? DescriptorCache.defaultLimit())

        // Segments, oldest first. A last segment too short for its header was being created when
        // the process died: it holds no record and is removed.
        let ids = names.compactMap { FileNames.segmentID(of: $0, suffix: FileNames.segmentSuffix) }.sorted()
        var files: [SegmentFile] = []
        var newestOnDisk = ids.last
        for (i, id) in ids.enumerated() {
            let isLast = i == ids.count - 1
            do {
                files.append(try SegmentFile.open(directory: directory, id: id, storeID: storeID, descriptors: descriptors))
            } catch let error where error.code == .corruption {
                let path = directory + "/" + FileNames.segment(id)
                if isLast && headerIsUnwritten(path) {
                    _ = try? Sys.unlink(path)
                    report.removedEmptySegment = true
                    newestOnDisk = i > 0 ? ids[i - 1] : nil
                } else {
                    report.problems.append(error)
                }
            }
        }
        try checkSegmentsBelong(files: files, problems: report.problems, directory: directory)
        recoverStates(files, directory: directory)
        // Leftovers of an interrupted rename (index growth, hint or STORE writes) are never live.
        for name in names where name.hasSuffix(FileNames.temporarySuffix) {
            _ = try? Sys.unlink(directory + "/" + name)
        }
        // Only the newest segment on disk can be continued. If it is damaged, the store continues
        // in a new segment after it and the damaged one stays as it is, reported.
        let nextSegmentID = (ids.last ?? 0) + 1

        // The index: trusted as it is, trusted up to `covered`, or rebuilt.
        let indexPath = directory + "/" + FileNames.index
        var index: HashIndex
        var end: LogPosition
        var lastSequence: UInt64
        var tornTail: Int? = nil
        // How far past the end of the log the last segment may hold bytes that were never
        // published; `nil` when unknown (after a power loss), then the whole tail is wiped.
        var wipeLimit: Int? = nil
        let opened = files.isEmpty || configuration.rebuildIndex ? nil
            : try HashIndex.open(path: indexPath, storeID: storeID, hashSeed: manifest.hashSeed, bootID: bootID)
        var replayed: Replay? = nil
        // Why an index file that exists is not used: worth reporting when it is damage.
        var distrust: String? = nil
        if let (existing, trust) = opened {
            do { replayed = try replay(index: existing, trust: trust, files: files, directory: directory, hasher: hasher, bootID: bootID) }
            catch where error.code == .io { throw error }  // a read that failed is not a reason to rebuild
            catch { distrust = "the index could not be brought up to date (\(error.message))" }
        } else if !files.isEmpty {
            distrust = HashIndex.distrustReason(path: indexPath)
        }
        if let (existing, trust) = opened, let replayed {
            index = replayed.index
            end = replayed.end
            lastSequence = replayed.lastSequence
            tornTail = replayed.tornTail
            report.problems += replayed.problems
            report.replayedRecords = replayed.records
            report.indexTrust = trust == .clean ? .clean : .replayed
            let limit = existing.writeLimit
            wipeLimit = trust == .sameBoot && limit.segmentID == end.segmentID ? max(end.offset, limit.offset) : end.offset
        } else {
            let previous = opened?.0.generation ?? 0
            var rebuilder = IndexRebuilder(directory: directory, storeID: storeID, hashSeed: manifest.hashSeed, hasher: hasher, bootID: bootID)
            rebuilder.expectedKeys = configuration.expectedKeyCount
            let temporary = indexPath + FileNames.temporarySuffix
            let outcome = try rebuilder.rebuild(segments: files, path: temporary, generation: previous + 1)
            try outcome.index.syncAll()
            do {
                try Sys.rename(temporary, indexPath)
                try Sys.syncDirectory(directory)
            } catch { throw error.kvError("rename", path: indexPath) }
            index = outcome.index
            end = outcome.end
            lastSequence = outcome.lastSequence
            tornTail = outcome.tornTail
            report.problems += outcome.problems
            if let distrust { report.problems.append(KVError(.corruption, distrust + "; rebuilt it from the log", path: indexPath, offset: 0)) }
            report.indexTrust = files.isEmpty ? .new : .rebuilt
            // Segments past a power loss's cut are set aside under another name, not deleted:
            // `kvtool salvage` can still read them.
            for file in outcome.lost {
                do { try Sys.rename(file.path, file.path + FileNames.lostSuffix) } catch {
                    throw error.kvError("rename", path: file.path)
                }
                report.setAsideSegments.append(file.path + FileNames.lostSuffix)
            }
            if !outcome.lost.isEmpty {
                let lostIDs = Set(outcome.lost.map(\.id))
                files.removeAll { lostIDs.contains($0.id) }
                newestOnDisk = files.last?.id
            }
        }

        // Only the newest segment on disk can be continued. If it is damaged, the store continues
        // in a new segment after it and the damaged one stays as it is, reported.
        let canContinueLast = files.last != nil && files.last?.id == newestOnDisk

        // The active segment: the last one, continued after its last valid record, with whatever a
        // crash left past that point wiped, so that no abandoned bytes can ever pass for a record.
        let coordinator = SyncCoordinator(directory: directory, directoryDescriptor: lock.directoryDescriptor, writtenSequence: lastSequence)
        let active: ActiveSegment
        if canContinueLast, let last = files.last, last.id == end.segmentID {
            let writable = try last.openForWriting()
            let size = try last.size()
            let wipeStart = tornTail ?? end.offset
            let wipeEnd = tornTail != nil ? size : min(size, wipeLimit ?? size)
            if wipeEnd > wipeStart {
                if tornTail != nil || wipeLimit != nil {
                    // A file shorter than a preallocated segment was cut: all of its tail is the
                    // torn record. In a preallocated one, count to the last non-zero byte, to
                    // 8-byte precision (a record's own last bytes may be zero).
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
            // A hint file for the segment being appended to would go stale.
            _ = try? Sys.unlink(directory + "/" + FileNames.hint(last.id))
            // Sealed segments with a hint were synced before the hint was written; the others
            // (a crash came between the roll and the hint) may hold records only in the page cache.
            for file in files.dropLast() where file.state < .hinted {
                try file.pin()
                coordinator.noteActive(file, created: false)
            }
            active = try ActiveSegment.resume(file: last, descriptor: writable, end: end.offset, capacity: configuration.segmentSize)
            coordinator.noteActive(last, created: false)
        } else {
            for file in files where file.state < .hinted {
                try file.pin()
                coordinator.noteActive(file, created: false)
            }
            active = try ActiveSegment.create(directory: directory, id: nextSegmentID, storeID: storeID, capacity: configuration.segmentSize,
                                              descriptors: descriptors)
            coordinator.noteActive(active.file, created: true)
            files.append(active.file)
            end = LogPosition(segmentID: active.id, offset: active.end)
        }
        index.setCovered(end, sequence: lastSequence)
        if index.capacity < HashIndex.capacity(forLiveKeys: configuration.expectedKeyCount) {
            index = try index.grow(directory: directory, adding: configuration.expectedKeyCount - index.liveCount, bootID: bootID)
        }
        try index.markOpen(bootID: bootID)

        let segments = SegmentTable(files)
        let views = ViewBox(ReadView(index: index, segments: segments))
        descriptors.setOnChange { [views] in views.publish(descriptors: $0) }
        let sealer = Sealer(directory: directory, storeID: storeID, coordinator: coordinator)
        let unhinted = files.dropLast().filter { $0.state < .hinted }
        if !unhinted.isEmpty { sealer.writeMissingHints(Array(unhinted)) }
        var writerConfiguration = configuration
        writerConfiguration.bootID = bootID
        let writer = Writer(directory: directory, storeID: storeID, hasher: hasher, configuration: writerConfiguration, views: views,
                            coordinator: coordinator, sealer: sealer, active: active, index: index, segments: segments,
                            nextSequence: lastSequence + 1)
        return StoreEngine(directory: directory, configuration: configuration, hasher: hasher, views: views, writer: writer,
                           coordinator: coordinator, sealer: sealer, lock: lock, descriptors: descriptors, recovery: report)
    }

    /// Each segment's state as the disk shows it (FORMAT.md §6.1): a segment with a hint file was
    /// synced before the hint was written; one without may hold records only in the page cache.
    /// The one recovery continues becomes active when it is resumed.
    private static func recoverStates(_ files: [SegmentFile], directory: String) {
        for file in files {
            file.lifecycle.recover(as: Sys.kind(of: directory + "/" + FileNames.hint(file.id)) == .file ? .hinted : .sealed)
        }
    }

    /// Refuses a directory whose segments all name another store: its `STORE` file was replaced
    /// (by another store's, or by a second creator), and opening it as an empty store that accepts
    /// writes would hide every record. A few foreign segments beside the store's own are only
    /// reported (a file copied in by mistake).
    private static func checkSegmentsBelong(files: [SegmentFile], problems: [KVError], directory: String) throws(KVError) {
        let foreign = problems.filter { $0.message == SegmentFile.foreignStoreMessage }
        guard files.isEmpty, let first = foreign.first else { return }
        throw KVError(.corruption, "the STORE file does not belong to the segments in this directory (\(foreign.count) segment(s) "
                      + "name another store); put the store's own STORE file back, or recover the records with kvtool salvage",
                      path: first.path ?? directory, offset: first.offset)
    }

    /// The offset just past the last non-zero byte in `[from, to)` of `file` (`from` if all zero):
    /// how much of a dropped tail held anything. Reads backwards a megabyte at a time and stops at
    /// the first non-zero word, so a preallocated tail of zeros costs one pass at most.
    private static func lastNonZeroByte(in file: SegmentFile, from: Int, to: Int) throws(KVError) -> Int {
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
    private static func headerIsUnwritten(_ path: String) -> Bool {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return false }
        defer { Sys.close(fd) }
        var header = [UInt8](repeating: 0, count: SegmentHeader.size)
        guard let n = try? header.withUnsafeMutableBytes({ raw throws(Errno) in try Sys.pread(fd, raw.baseAddress!, raw.count, 0) }) else { return false }
        return n < SegmentHeader.size || header.allSatisfy { $0 == 0 }
    }

    private struct Replay {
        var index: HashIndex
        var end: LogPosition
        var lastSequence: UInt64
        var tornTail: Int?
        var problems: [KVError]
        var records: Int
    }

    /// Applies the records after the index's `covered` position to it. Returns `nil` when the index
    /// does not fit the segments on disk (then it is rebuilt).
    private static func replay(index: HashIndex, trust: HashIndex.Trust, files: [SegmentFile], directory: String,
                               hasher: KeyHasher, bootID: [UInt8]) throws(KVError) -> Replay? {
        let covered = index.covered
        guard let last = files.last, let coveredSegment = files.firstIndex(where: { $0.id == covered.segmentID }),
              covered.offset >= SegmentHeader.size, covered.offset % 8 == 0 else { return nil }
        if trust == .clean {
            // A clean close truncated the active segment to its records: nothing to read.
            guard covered.segmentID == last.id else { return nil }
            let size = try last.size()
            if covered.offset == size {
                return Replay(index: index, end: covered, lastSequence: index.lastSequence, tornTail: nil, problems: [], records: 0)
            }
            guard covered.offset < size else { return nil }
        } else if !index.settlePendingChange() {
            let (live, tombstones) = index.recount()
            index.setCounts(live: live, tombstones: tombstones)
        }
        var index = index
        var lastSequence = index.lastSequence
        var end = covered
        var tornTail: Int? = nil
        var problems: [KVError] = []
        var records = 0
        let table = SegmentTable(files)
        for file in files[coveredSegment...] {
            let isLast = file === last
            let hinted = !isLast && file.state == .hinted
            var reader = try LogReader(file: file, role: isLast ? .active(end: nil) : .sealed(hinted: hinted),
                                       purpose: .recover(afterPowerLoss: false),
                                       from: file.id == covered.segmentID ? covered.offset : SegmentHeader.size)
            scan: while true {
                switch try reader.next() {
                case .record(let r):
                    if index.needsRehash() { index = try index.grow(directory: directory, adding: 1, bootID: bootID) }
                    try apply(r, segment: file.id, to: index, table: table, hasher: hasher)
                    lastSequence = max(lastSequence, r.header.sequence)
                    end = LogPosition(segmentID: file.id, offset: r.offset + r.header.alignedLength)
                    records += 1
                case .skipped:
                    continue  // not with this purpose
                case .stop(let stop):
                    end = LogPosition(segmentID: file.id, offset: stop.offset)
                    switch stop {
                    case .end: break
                    case .tornTail(let offset, _): tornTail = offset
                    case .cut(let offset, let reason), .damage(let offset, let reason):
                        problems.append(.corruption("\(reason); records after it are not indexed", path: file.path, offset: Int64(offset)))
                    }
                    break scan
                }
            }
        }
        return Replay(index: index, end: end, lastSequence: lastSequence, tornTail: tornTail, problems: problems, records: records)
    }

    /// Re-applies one record to the index. Idempotent: applying a record the index already reflects
    /// changes nothing, which is what makes replaying from `covered` safe after a crash.
    private static func apply(_ r: SegmentScanner.Record, segment: UInt32, to index: HashIndex, table: SegmentTable,
                              hasher: KeyHasher) throws(KVError) {
        let hash = hasher.hash(r.key)
        let needed = RecordHeader.size + r.key.count
        let slot = try index.probe(hash: hash) { (slot, word) throws(KVError) -> Int? in
            let location = Location(word: word)
            guard let file = table.file(location.segmentID) else { return nil }
            return try ScratchBuffer.with(needed) { (buffer) throws(KVError) -> Int? in
                let n = try file.read(into: buffer, count: needed, at: location.offset)
                return RecordHeader.keyMatches(UnsafeRawBufferPointer(start: buffer, count: n), r.key) ? slot : nil
            }
        }
        switch (r.header.kind, slot) {
        case (.put, let slot?):
            index.update(slot: slot, location: Location(segmentID: segment, offset: r.offset, recordLength: r.header.length).word)
        case (.put, nil):
            // A table with no empty slot left is damage; the caller rebuilds the index instead.
            guard let free = index.freeSlot(for: hash) else { throw index.inconsistency("no empty slot left for a new key") }
            index.insert(hash: hash, location: Location(segmentID: segment, offset: r.offset, recordLength: r.header.length).word, at: free)
        case (.delete, let slot?):
            index.remove(slot: slot)
        default:
            break
        }
    }
}
