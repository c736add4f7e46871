#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The part of a read-only store that keeps it in step with a writer in another process
/// (FORMAT.md §12): which index to read, the segments that appeared or went since open, and the
/// check at the start of every call.
///
/// A live reader shares nothing with the writer but the files: it takes no lock (it only tests
/// the writer's, without holding it), writes no byte, and needs only read permission. Everything
/// it must notice, the writer shows in the files it already reads: a new index renamed over the
/// old one marks the old one replaced; a new writer names itself in the index header; a new
/// segment is found by the id a slot points at; a deleted one by `ENOENT` (the slots that pointed
/// into it were repointed first).
final class LiveReader: Sendable {
    let directory: String
    let storeID: UInt64
    let hashSeed: UInt64
    let hasher: KeyHasher
    let bootID: [UInt8]
    let descriptors: DescriptorCache
    /// The store directory, read-only: what the writer's lock is tested on.
    let directoryFD: Int32
    /// The writer's index may be in shared memory, behind the link `index`: followed only there.
    let residence: IndexResidence?
    /// One refresh at a time; gets never take it unless they found something changed.
    private let refreshing = Mutex(())
    /// The views every reader takes; set once, by the open, before the store is shared.
    private let box = Mutex<ViewBox?>(nil)

    init(directory: String, storeID: UInt64, hashSeed: UInt64, hasher: KeyHasher, bootID: [UInt8],
         descriptors: DescriptorCache, directoryFD: Int32, sharedMemoryDirectory: String = "/dev/shm") {
        self.directory = directory
        residence = IndexResidence(storeDirectory: directory, storeID: storeID, sharedMemoryDirectory: sharedMemoryDirectory)
        self.storeID = storeID
        self.hashSeed = hashSeed
        self.hasher = hasher
        self.bootID = bootID
        self.descriptors = descriptors
        self.directoryFD = directoryFD
    }

    deinit { Sys.close(directoryFD) }

    func attach(_ views: ViewBox) { box.withLock { $0 = views } }

    private var views: ViewBox {
        get throws(KVError) {
            guard let views = box.withLock({ $0 }) else { throw KVError.closed() }
            return views
        }
    }

    var indexPath: String { directory + "/" + FileNames.index }

    /// Whether a writer holds the store's lock now.
    func writerIsAlive() throws(KVError) -> Bool {
        do { return try Sys.isLockedExclusively(directoryFD) } catch { throw error.kvError("flock", path: directory) }
    }

    // MARK: - Choosing the index

    /// The index a reader reads, and what it watches when that is a private one.
    struct Choice {
        var index: HashIndex
        var watch: IndexWatch?
        /// The replacement mark the index carried when it was chosen (see ``ReadView/acceptedMark``).
        var acceptedMark: UInt64
        var files: [SegmentFile]
        var report: Store.RecoveryReport
    }

    /// Picks the index (FORMAT.md §12.2): the store's own when a writer keeps it up to date (open,
    /// this boot, writer alive) or it was closed cleanly at the end of the log; otherwise a
    /// private one rebuilt from the log, with a watch on the store's. `following` is true when an
    /// open reader follows a change: then an index a writer of this boot left open is used even if
    /// that writer is gone (the page cache holds every change it made), rather than rebuilding the
    /// whole store inside a get, unless it died in the middle of a batch.
    func choose(rebuild: Bool, following: Bool, known: SegmentTable = SegmentTable([])) throws(KVError) -> Choice {
        var report = Store.RecoveryReport()
        if !rebuild {
            // Listed once: the retries below wait only for a rename of the index.
            let files = try listSegments(report: &report, reusing: known)
            var attempts = 0
            while true {
                let alive = try writerIsAlive()
                guard let (index, trust) = try HashIndex.open(path: indexPath, storeID: storeID, hashSeed: hashSeed,
                                                              bootID: bootID, writable: false, residence: residence) else { break }
                let mark = index.replacedToken
                // A writer marks the old file just before it renames the new one over it: wait for
                // the rename while that writer lives (a loaded machine can hold it between the two
                // for milliseconds; taking the marked file then would leave this reader on a file
                // no longer at the path, with nothing left to tell it so), and briefly when none is.
                if mark != 0 && attempts < (alive ? Self.renameWaitsWhileAlive : Self.renameWaits) {
                    // Waits on this mapping, without opening the file again: the rename puts
                    // another file at the path, a new writer clears the mark. Whether the writer
                    // still lives is tested every 10 ms.
                    let mapped = try? Sys.identity(index.file.fd)
                    var stillAlive = alive
                    attempts += 1
                    while attempts < (stillAlive ? Self.renameWaitsWhileAlive : Self.renameWaits), index.replacedToken == mark,
                          Sys.identity(ofPath: indexPath) == mapped {
                        attempts += 1
                        usleep(100)
                        if attempts % 100 == 0 { stillAlive = try writerIsAlive() }
                    }
                    continue
                }
                // Still marked, still at the path: the writer died between the mark and the rename,
                // and this is the index; the next writer clears the mark. (Every later call checks
                // that it is still the file at the path, ``needsRefresh(_:)``.)
                let cleanAtEnd: Bool
                if trust == .clean, let last = files.last, index.covered.segmentID == last.id {
                    cleanAtEnd = (try? last.size()) == index.covered.offset
                } else {
                    cleanAtEnd = trust == .clean && files.isEmpty
                }
                let kept = trust == .sameBoot && (alive || (following && index.applyingBatch == 0))
                if cleanAtEnd || kept {
                    // Segments the writer adds after the listing are found on demand.
                    report.indexTrust = cleanAtEnd ? .clean : .live
                    return Choice(index: index, watch: nil, acceptedMark: mark, files: files, report: report)
                }
                break
            }
        }
        // The watch first, then the log: a writer that opens while the private index is built
        // then shows as a change at the first call.
        let watch = IndexWatch(path: indexPath)
        report = Store.RecoveryReport()
        var files = try listSegments(report: &report, reusing: known)
        let temporary = Self.temporaryDirectory() + "/kvstore-reader-\(UInt64.random(in: 0...UInt64.max)).index"
        let rebuilder = IndexRebuilder(directory: directory, storeID: storeID, hashSeed: hashSeed, hasher: hasher, bootID: bootID)
        let outcome = try rebuilder.rebuild(segments: files, path: temporary, generation: 0)
        // The private index lives as long as its mapping; nothing of it stays on disk.
        _ = try? Sys.unlink(temporary)
        report.problems += outcome.problems
        report.setAsideSegments = outcome.lost.map(\.path)
        let lostIDs = Set(outcome.lost.map(\.id))
        files.removeAll { lostIDs.contains($0.id) }
        report.indexTrust = files.isEmpty ? .new : .rebuilt
        return Choice(index: outcome.index, watch: watch, acceptedMark: 0, files: files, report: report)
    }

    /// How many times (100 µs apart) a reader that found the index marked replaced opens it again
    /// before it takes the marked file as the index: when no writer is alive...
    static let renameWaits = 20
    /// ...and while the writer that marked it is alive (up to 5 s: a new writer clears a leftover
    /// mark during its recovery, which can take that long on a big store).
    static let renameWaitsWhileAlive = 50_000

    /// The store's segments, oldest first. One that vanishes while it is listed (compaction
    /// deleted it) is left out: its live records were copied forward first. Segments in `known`
    /// keep their objects (and so their descriptors), without their headers read again; every
    /// listed segment takes the state the disk shows now (a hint written since).
    func listSegments(report: inout Store.RecoveryReport, reusing known: SegmentTable = SegmentTable([])) throws(KVError) -> [SegmentFile] {
        let names: [String]
        do { names = try Sys.listDirectory(directory) } catch { throw error.kvError("opendir", path: directory) }
        let ids = names.compactMap { FileNames.segmentID(of: $0, suffix: FileNames.segmentSuffix) }.sorted()
        var files: [SegmentFile] = []
        var opened: [SegmentFile] = [], kept: [SegmentFile] = []
        for id in ids {
            if let file = known.file(id) {
                files.append(file)
                kept.append(file)
                continue
            }
            do {
                let file = try SegmentFile.open(directory: directory, id: id, storeID: storeID, descriptors: descriptors)
                files.append(file)
                opened.append(file)
            } catch where error.errno == ENOENT {
                continue
            } catch where error.code == .corruption {
                // A segment with an unwritten header holds nothing; others are reported.
                if !StoreEngine.headerIsUnwritten(directory + "/" + FileNames.segment(id)) { report.problems.append(error) }
            }
        }
        try StoreEngine.checkSegmentsBelong(files: files, problems: report.problems, directory: directory)
        StoreEngine.recoverStates(opened, directory: directory)
        for file in kept where file.state < .hinted && Sys.kind(of: directory + "/" + FileNames.hint(file.id)) == .file {
            file.lifecycle.advance(to: .hinted)
        }
        // Descriptors of segments that are gone are let go.
        let listed = Set(files.map(\.id))
        descriptors.drop(Set(known.all.map(\.id).filter { !listed.contains($0) }))
        return files
    }

    // MARK: - Every call

    /// The view to read with: `view`, unless the writer replaced the index it reads (or, for a
    /// private index, opened or replaced the store's), or died in the middle of a batch: then a
    /// fresh one. Two loads from a line the writer stores to only for batches and replacements.
    @inline(__always) func current(_ view: ReadView) throws(KVError) -> ReadView {
        let index = view.index
        if index.replacedToken == view.acceptedMark && view.acceptedMark == 0 && index.applyingBatch == 0 && view.watch == nil {
            return view
        }
        return try needsRefresh(view) ? try refresh() : view
    }

    private func needsRefresh(_ view: ReadView) throws(KVError) -> Bool {
        if view.index.replacedToken != view.acceptedMark { return true }
        // A marked file taken as the index (its writer died between the mark and the rename):
        // rare, and then every call checks that it is still the file at the path.
        if view.acceptedMark != 0, !isStillTheIndex(view.index) { return true }
        if let watch = view.watch { return watch.changed }
        // A batch being applied: by a live writer (it finishes in microseconds), or by one that
        // died half way, whose index then holds part of a batch until the next writer replays it.
        guard view.index.applyingBatch != 0 else { return false }
        return try !writerIsAlive()
    }

    /// Whether the file at the index's path is still `index`'s file.
    private func isStillTheIndex(_ index: HashIndex) -> Bool {
        guard let mapped = try? Sys.identity(index.file.fd) else { return true }
        return Sys.identity(ofPath: indexPath) == mapped
    }

    /// Moves to the index the store has now, once, whichever thread gets here first.
    func refresh() throws(KVError) -> ReadView {
        let views = try self.views
        return try refreshing.withLock { _ throws(KVError) -> ReadView in
            let view = try views.get()
            guard try needsRefresh(view) else { return view }
            let choice = try choose(rebuild: false, following: true, known: view.segments)
            let next = ReadView(index: choice.index, segments: SegmentTable(choice.files), watch: choice.watch,
                                acceptedMark: choice.acceptedMark)
            views.publish(next)
            return try views.get()
        }
    }

    /// The file of segment `id`, which the reader's view does not list: a segment the writer
    /// created after the view was made. Throws `ENOENT` when there is no such file (compaction
    /// deleted it: the caller reads again, and the slot points elsewhere by then).
    func discover(_ id: UInt32) throws(KVError) -> SegmentFile {
        let views = try self.views
        return try refreshing.withLock { _ throws(KVError) -> SegmentFile in
            let view = try views.get()
            if let file = view.segments.file(id) { return file }
            let file = try SegmentFile.open(directory: directory, id: id, storeID: storeID, descriptors: descriptors)
            StoreEngine.recoverStates([file], directory: directory)
            // Each new segment is also when the reader lets go of the ones compaction deleted, so
            // that their disk space is not kept by a descriptor for longer than one roll.
            let gone = view.segments.all.filter { Sys.kind(of: $0.path) == .missing }
            descriptors.drop(Set(gone.map(\.id)))
            var files = view.segments.all.filter { known in !gone.contains { $0 === known } }
            files.append(file)
            views.publish(ReadView(index: view.index, segments: SegmentTable(files), watch: view.watch, acceptedMark: view.acceptedMark))
            return file
        }
    }

    /// Lists the directory again (a scan reaching the last segment it knows, statistics): segments
    /// the writer added join the view, deleted ones leave it.
    func refreshSegments() throws(KVError) -> ReadView {
        let views = try self.views
        _ = try current(try views.get())  // the index first: a replaced one is followed
        return try refreshing.withLock { _ throws(KVError) -> ReadView in
            let view = try views.get()
            var report = Store.RecoveryReport()
            let listed = try listSegments(report: &report, reusing: view.segments)
            views.publish(ReadView(index: view.index, segments: SegmentTable(listed), watch: view.watch,
                                   acceptedMark: view.acceptedMark))
            return try views.get()
        }
    }

    /// What ``Store/access`` reports.
    func access() throws(KVError) -> Store.Access {
        let view = try views.get()
        if view.watch != nil { return .snapshotReader }
        let word = view.index.writerWord
        let alive = try writerIsAlive()
        let pid = word != 0 && alive ? Int32(bitPattern: UInt32(truncatingIfNeeded: word)) : nil
        return .liveReader(writerProcessID: pid)
    }

    static func temporaryDirectory() -> String {
        if let value = getenv("TMPDIR"), let path = String(validatingCString: value), !path.isEmpty { return path }
        return "/tmp"
    }
}
