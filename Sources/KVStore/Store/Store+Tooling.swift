#if canImport(Glibc)
import Glibc
#endif

// Package-level access to the store's files and internals for `kvtool` (Tools/KVToolCore) and
// `kvbench` (Benchmarks/KVBenchCore), so that neither knows the directory's layout: file names,
// header sizes and the meaning of errors are decided here. Nothing here is public API, and nothing
// here writes to a store (beyond creating the LOCK file when asked to): the helpers read the STORE
// file, name and classify the directory's files, walk records (through the open store's view, or
// straight from a segment file, damaged or not) and take the store's lock.

// MARK: - The STORE file and the directory

/// What a store's `STORE` file says.
package struct ToolingManifest: Sendable, Equatable {
    package var formatMajor: UInt16
    package var formatMinor: UInt16
    package var storeID: UInt64
    /// Seconds since 1970, as written when the store was created.
    package var createdAt: UInt64
    /// The feature bits set, by name where this build knows them ("compactHints"), else as
    /// "compatible bit 3" and so on.
    package var features: [String] = []
}

/// What a path names.
package enum ToolingPathKind: Sendable {
    case missing, directory, file, other
}

/// What a file in a store directory is, by its name (see ``Store/toolingFileKind(_:)``).
package enum ToolingFileKind: Sendable, Equatable {
    /// The STORE file.
    case manifest
    /// The LOCK file.
    case lock
    /// The index file.
    case index
    /// A segment file of the log.
    case segment(UInt32)
    /// A segment set aside by recovery because it lies past the point where a power loss cut the
    /// log: the store no longer reads it, `kvtool salvage` does.
    case setAsideSegment(UInt32)
    /// A segment's hint file.
    case hint(UInt32)
    /// A file being written, to be renamed into place (a leftover after a crash).
    case temporary
    /// Anything else: not one of the store's files.
    case other
}

extension Store {

    /// File names of a store directory, for messages and help texts: the manifest, the lock, the
    /// index, and the patterns of segment files and of segments set aside by recovery
    /// (`NNNNNNNN.seg`, `NNNNNNNN.seg.lost`). To tell what a name is, use ``toolingFileKind(_:)``.
    package static var toolingFileNames: (manifest: String, lock: String, index: String, segmentPattern: String,
                                          setAsidePattern: String) {
        let segment = "NNNNNNNN" + FileNames.segmentSuffix
        return (FileNames.manifest, FileNames.lock, FileNames.index, segment, segment + FileNames.lostSuffix)
    }

    /// What the file called `name` in a store directory is.
    package static func toolingFileKind(_ name: String) -> ToolingFileKind {
        switch name {
        case FileNames.manifest: return .manifest
        case FileNames.lock: return .lock
        case FileNames.index: return .index
        default: break
        }
        if let id = FileNames.segmentID(of: name, suffix: FileNames.segmentSuffix) { return .segment(id) }
        if name.hasSuffix(FileNames.lostSuffix),
           let id = FileNames.segmentID(of: String(name.dropLast(FileNames.lostSuffix.count)), suffix: FileNames.segmentSuffix) {
            return .setAsideSegment(id)
        }
        if let id = FileNames.segmentID(of: name, suffix: FileNames.hintSuffix) { return .hint(id) }
        if name.hasSuffix(FileNames.temporarySuffix) { return .temporary }
        return .other
    }

    /// The paths of the segment files in `directory` (set-aside ones not included), oldest first;
    /// empty when it cannot be listed. Changes nothing and takes no lock.
    package static func toolingSegmentFiles(in directory: String) -> [String] {
        let names = (try? Sys.listDirectory(directory)) ?? []
        return names.compactMap { name -> (UInt32, String)? in
            guard case .segment(let id) = toolingFileKind(name) else { return nil }
            return (id, directory + "/" + name)
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Whether `directory` holds nothing but what a store being created holds before its STORE
    /// file is complete, so that another process may be creating a store there right now. A
    /// creator locks the directory, writes `STORE.tmp`, renames it to `STORE`, then creates and
    /// locks `LOCK` (an older build made `LOCK` first); the open treats a directory holding only
    /// `LOCK` and `STORE.tmp` as empty. `false` when it cannot be listed.
    package static func toolingMayBeBeingCreated(directory: String) -> Bool {
        let creating: Set<String> = [FileNames.lock, FileNames.manifest, FileNames.manifest + FileNames.temporarySuffix]
        guard let names = try? Sys.listDirectory(directory) else { return false }
        return names.allSatisfy(creating.contains)
    }

    /// What `path` is, following symbolic links.
    package static func toolingPathKind(_ path: String) -> ToolingPathKind {
        switch Sys.kind(of: path) {
        case .missing: return .missing
        case .directory: return .directory
        case .file: return .file
        case .other: return .other
        }
    }

    /// The names in a directory, without `.` and `..`.
    package static func toolingListDirectory(_ path: String) throws(KVError) -> [String] {
        do { return try Sys.listDirectory(path) } catch { throw error.kvError("opendir", path: path) }
    }

    /// Reads and checks `directory/STORE` without opening the store; changes no file.
    /// - Throws: ``KVError/Code/notAStore`` when the file is missing or has no KVStore magic,
    ///   ``KVError/Code/corruption``, ``KVError/Code/incompatibleFormat``, ``KVError/Code/io``.
    package static func toolingReadManifest(directory: String) throws(KVError) -> ToolingManifest {
        let path = directory + "/" + FileNames.manifest
        guard Sys.kind(of: path) == .file else {
            throw KVError(.notAStore, "not a KVStore directory (no STORE file)", path: directory)
        }
        let manifest = try Manifest.decode(readWholeFile(path), path: path)
        var features: [String] = []
        for bit in 0..<32 where manifest.incompatibleFeatures & (1 << UInt32(bit)) != 0 {
            features.append(1 << UInt32(bit) == Features.dictionaries ? "dictionaries" : "incompatible bit \(bit)")
        }
        for bit in 0..<16 where manifest.readOnlyCompatibleFeatures & (1 << UInt16(bit)) != 0 { features.append("read-only-compatible bit \(bit)") }
        for bit in 0..<16 where manifest.compatibleFeatures & (1 << UInt16(bit)) != 0 {
            features.append(1 << UInt16(bit) == Features.compactHints ? "compactHints" : "compatible bit \(bit)")
        }
        return ToolingManifest(formatMajor: manifest.formatMajor, formatMinor: manifest.formatMinor,
                               storeID: manifest.storeID, createdAt: manifest.createdAt, features: features)
    }

    /// ``statistics`` without the walk over the index that counts live bytes: O(segments), for
    /// `kvtool stat` on a store of any size. `liveBytes` and `deadBytes` are 0.
    package var toolingQuickStatistics: Statistics {
        get throws { try engine.statistics(countingLiveBytes: false) }
    }
}

// MARK: - The lock

/// The store's lock, the one opening the store takes (an `flock` on the directory, and on the
/// `LOCK` file when there is one), held until ``release()`` or deinit.
package final class ToolingLock {
    private var lock: StoreLock?

    /// Takes the exclusive lock of the store in `directory`, waiting a few milliseconds at most.
    /// With `create`, a missing `LOCK` file is created and locked too, as a writer does; without,
    /// no file is created.
    /// - Throws: ``KVError/Code/locked`` when another process holds it, ``KVError/Code/io``.
    package init(directory: String, create: Bool) throws(KVError) {
        let lock = try StoreLock.acquire(directory: directory)
        if create { try lock.lockLegacyFile() }
        self.lock = lock
    }

    /// Releases the lock (closing its descriptors).
    package func release() {
        lock = nil
    }
}

// MARK: - Segments and records of an open store

/// One segment file of an open store.
package struct ToolingSegment: Sendable {
    package var id: UInt32
    package var path: String
    /// The file's size now (the active segment is preallocated past its records).
    package var fileSize: Int
    /// Where its records end.
    package var dataEnd: Int
    /// Whether new records are appended to it.
    package var isActive: Bool
}

/// A put or delete record met while scanning an open store. `key` is valid only during the callback.
package struct ToolingRecord {
    package var offset: Int
    package var isDelete: Bool
    package var sequence: UInt64
    package var isCompressed: Bool
    package var keyLength: Int
    package var storedValueLength: Int
    package var rawValueLength: Int
    package var dictionaryID: UInt16
    /// Bytes on disk, padding included.
    package var footprint: Int
    /// Whether the index points at this record: it holds its key's current value.
    package var isLive: Bool
    package var key: UnsafeRawBufferPointer
}

extension Store {
    /// The store's segment files, oldest first.
    package func toolingSegments() throws(KVError) -> [ToolingSegment] {
        // A live reader lists the directory now: the writer may have rolled or compacted since.
        let view: ReadView
        if let live = engine.live { view = try live.refreshSegments() } else { view = try engine.views.get() }
        let covered = view.index.covered
        let files = view.segments.all
        var result: [ToolingSegment] = []
        for file in files {
            let size: Int
            do { size = try file.size() } catch where engine.live != nil && error.errno == ENOENT { continue }  // compacted away
            // A live writer renames a new segment into place before `covered` moves into it: none
            // of its records is covered yet, and its preallocated zeros are not records.
            let end = file.id == covered.segmentID ? min(size, covered.offset)
                : file.id > covered.segmentID ? min(size, SegmentHeader.size) : size
            result.append(ToolingSegment(id: file.id, path: file.path, fileSize: size, dataEnd: end,
                                         isActive: file.id == files.last?.id))
        }
        return result
    }

    /// Calls `body` with every put and delete record of `segment`, in file order (batch records
    /// themselves are not reported). After a damaged record (or zeros before the end of the
    /// records) it goes on at the next valid record, as ``verify()`` does, so one bad byte does not
    /// hide the rest of the segment. Returns the damaged regions, in file order.
    package func toolingScan(_ segment: ToolingSegment, _ body: (ToolingRecord) throws -> Void) throws -> [ToolingDamage] {
        var view = try engine.views.get()
        if let live = engine.live { view = try live.current(view) }
        guard let file = view.segments.file(segment.id) else {
            throw KVError(.io, "the segment is no longer part of the store", path: segment.path)
        }
        let end = segment.dataEnd
        var damage: [ToolingDamage] = []
        var reader = try LogReader(file: file, role: segment.isActive ? .active(end: end) : .sealed(hinted: true),
                                   purpose: .inspect(resynchronize: true))
        scan: while true {
            switch try reader.next() {
            case .record(let r):
                // The index of now, not of the scan's start: a live writer may have replaced it.
                if let live = engine.live { view = try live.current(view) }
                let live = view.index.slot(pointingAt: file.id, offset: r.offset, hash: engine.hasher.hash(r.key)) != nil
                try body(ToolingRecord(
                    offset: r.offset, isDelete: r.header.kind == .delete, sequence: r.header.sequence,
                    isCompressed: r.header.isCompressed, keyLength: r.header.keyLength,
                    storedValueLength: r.header.storedValueLength, rawValueLength: r.header.rawValueLength,
                    dictionaryID: r.header.dictionaryID, footprint: r.header.alignedLength, isLive: live && r.header.kind == .put, key: r.key))
            case .skipped(let offset, let length, let reason):
                damage.append(ToolingDamage(path: file.path, offset: offset, length: length, reason: reason))
            case .stop(.damage(let offset, let reason)):
                damage.append(ToolingDamage(path: file.path, offset: offset, length: reader.limit - offset, reason: reason))
                break scan
            case .stop:
                break scan
            }
        }
        return damage
    }
}

/// Bytes of a segment that ``Store/toolingScan(_:_:)`` could not read as records.
package struct ToolingDamage: Sendable {
    package var path: String
    package var offset: Int
    /// Up to the next valid record, or to the end of the records.
    package var length: Int
    package var reason: String
}

// MARK: - Segment files read directly, damaged or not

/// The header of a segment file.
package struct ToolingSegmentHeader: Sendable, Equatable {
    package var segmentID: UInt32
    package var storeID: UInt64
    package var formatMajor: UInt16
    package var formatMinor: UInt16
}

/// What reading a segment file's header found (see ``Store/toolingReadSegmentHeader(_:)``).
package enum ToolingSegmentHeaderRead: Sendable {
    /// A valid header.
    case header(ToolingSegmentHeader)
    /// The file is at least a header long but does not start with the segment magic: it is not a
    /// segment file at all (a tool refuses it unless told to read it anyway).
    case notASegmentFile(KVError)
    /// A segment file whose header is damaged (too short, checksum mismatch): its records may
    /// still be read.
    case damaged(KVError)
}

extension Store {
    /// Bytes of a segment file's header: where its first record starts.
    package static var toolingSegmentHeaderSize: Int { SegmentHeader.size }

    /// Decodes the header of the segment file `reader` reads, telling a file that is not a
    /// segment file from a damaged header.
    /// - Throws: ``KVError/Code/incompatibleFormat`` for a segment of a newer format, ``KVError/Code/io``.
    package static func toolingReadSegmentHeader(_ reader: RawSegmentReader) throws(KVError) -> ToolingSegmentHeaderRead {
        do {
            return .header(try reader.header())
        } catch where error.code == .corruption {
            // As SegmentHeader.decode decides: the length first, then the magic.
            if reader.fileSize >= SegmentHeader.size && lacksSegmentMagic(reader.path) { return .notASegmentFile(error) }
            return .damaged(error)
        }
    }

    /// Whether the file at `path` starts with bytes other than the segment magic (`false` when
    /// they cannot be read).
    private static func lacksSegmentMagic(_ path: String) -> Bool {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return false }
        defer { Sys.close(fd) }
        var head = [UInt8](repeating: 0, count: SegmentHeader.magic.count)
        let n = try? head.withUnsafeMutableBytes { raw throws(Errno) in try Sys.pread(fd, raw.baseAddress!, raw.count, 0) }
        return n == head.count && head != SegmentHeader.magic
    }
}

/// A record as found in a segment file. For a damaged record, the fields hold what its header
/// says, which may be wrong.
package struct RawRecord: Sendable {
    /// Kind codes of the format: 1 put, 2 delete, 3 batch.
    package static let putKind: UInt8 = 1, deleteKind: UInt8 = 2, batchKind: UInt8 = 3

    package var offset: Int
    package var kind: UInt8
    package var flags: UInt8
    package var sequence: UInt64
    package var keyLength: Int
    package var storedValueLength: Int
    package var rawValueLength: Int
    /// The dictionary the value was compressed against; 0 for none.
    package var dictionaryID: UInt16
    /// The checksum stored in the record.
    package var checksum: UInt32
    /// The key, when it lies inside the file (empty for batch records).
    package var key: [UInt8]?
    /// The member count of a batch record.
    package var batchCount: Int?
    /// Set on the members of a batch whose own commit word was never written: the batch was
    /// not committed, and the store ignores them.
    package var uncommitted = false

    package var isCompressed: Bool { flags & RecordHeader.compressedFlag != 0 }
    /// Header, key and value.
    package var length: Int { RecordHeader.size + keyLength + storedValueLength }
}

/// What ``RawSegmentReader/walk(from:_:)`` finds, in file order.
package enum RawSegmentEvent: Sendable {
    /// A whole record whose checksum matches.
    case record(RawRecord)
    /// Bytes that are not a valid record, from `offset` for `length` bytes, up to the next valid
    /// record or to where only zeros remain. `record` holds what the header there says, when its
    /// kind and lengths are plausible.
    case damaged(offset: Int, length: Int, reason: String, record: RawRecord?)
    /// A batch header whose commit word is zero: the batch was being written when the writer
    /// stopped. Its members follow, marked ``RawRecord/uncommitted``.
    case uncommittedBatch(offset: Int, sequence: UInt64, count: Int)
    /// Only zeros (or nothing) from `offset` to the end of the file.
    case end(offset: Int)
}

/// Reads a segment file record by record without a store, resynchronizing after damage at the
/// next 8-byte boundary where a whole valid record starts. Opens the file read-only.
package final class RawSegmentReader {
    package let path: String
    package let fileSize: Int
    /// Owns the descriptor (closed when the reader goes away).
    private let file: SegmentFile
    private var window: UnsafeMutableRawPointer
    private var windowCapacity: Int
    private var windowStart = 0
    private var windowCount = 0
    private var shelf: DictionaryShelf?

    /// Opens `path` read-only.
    /// - Throws: ``KVError/Code/io`` with the `errno` (`ENOENT`, `EACCES`…).
    package init(path: String) throws(KVError) {
        self.path = path
        file = try SegmentFile.standalone(path: path)
        fileSize = try file.size()
        windowCapacity = 1 << 20
        window = .allocate(byteCount: windowCapacity, alignment: 16)
    }

    deinit {
        window.deallocate()
    }

    /// Decodes the 32-byte segment header.
    /// - Throws: ``KVError/Code/corruption`` (short file, bad magic, checksum), ``KVError/Code/incompatibleFormat``.
    package func header() throws(KVError) -> ToolingSegmentHeader {
        let raw = try bytes(at: 0, count: SegmentHeader.size)
        let h = try SegmentHeader.decode(raw, path: path)
        return ToolingSegmentHeader(segmentID: h.segmentID, storeID: h.storeID, formatMajor: h.formatMajor,
                                    formatMinor: h.formatMinor)
    }

    /// Reports everything from `start` (the first record, by default) to the end of the file.
    package func walk(from start: Int = SegmentHeader.size, _ body: (RawSegmentEvent) throws -> Void) throws {
        var at = start
        var uncommittedLeft = 0
        while true {
            let head = try bytes(at: at, count: RecordHeader.size + 8)
            if head.count < 8 {
                if head.allSatisfy({ $0 == 0 }) { return try body(.end(offset: at)) }
                return try damagedToEnd(at: at, reason: "truncated record header", record: nil, body)
            }
            let p = head.baseAddress!
            if RecordHeader.isUnwritten(p) {
                if head.count >= 40, let (sequence, count) = RecordHeader.uncommittedBatch(p) {
                    try body(.uncommittedBatch(offset: at, sequence: sequence, count: count))
                    uncommittedLeft = count
                    at += 40
                    continue
                }
                // The rule every segment reader follows (LogReader.verdict): a file read on its own
                // may have been the active one, so zeros end it unless a whole record follows.
                let next = Self.verdict(zeros: true) == .end ? nil : try nextValidRecord(after: at)
                guard let next else { return try body(.end(offset: at)) }
                try body(.damaged(offset: at, length: next - at, reason: LogReader.zerosReason, record: nil))
                uncommittedLeft = 0
                at = next
                continue
            }
            let plausible = RecordHeader.plausibleLength(p, available: head.count)
            let whole = try bytes(at: at, count: plausible.map { min($0, fileSize - at) } ?? head.count)
            let parsed = RecordHeader.parse(whole.baseAddress!, available: whole.count)
            if case .record(let header) = parsed {
                var record = Self.fields(whole.baseAddress!, at: at, available: whole.count)
                if header.kind == .batch { record.batchCount = RecordHeader.batchCount(whole.baseAddress!) }
                if uncommittedLeft > 0 && header.kind != .batch {
                    record.uncommitted = true
                    uncommittedLeft -= 1
                } else {
                    uncommittedLeft = 0
                }
                try body(.record(record))
                at += header.alignedLength
                continue
            }
            var reason = "damaged record"
            if case .invalid(let why) = parsed { reason = why }
            let record = plausible == nil ? nil : Self.fields(whole.baseAddress!, at: at, available: whole.count)
            uncommittedLeft = 0
            let resynchronize = Self.verdict(zeros: false) == .resynchronize
            guard resynchronize, let next = try nextValidRecord(after: at) else {
                return try damagedToEnd(at: at, reason: reason, record: record, body)
            }
            try body(.damaged(offset: at, length: next - at, reason: reason, record: record))
            at = next
        }
    }

    /// The value of a record reported by ``walk(from:_:)``, read again, checked and decompressed.
    /// - Throws: ``KVError/Code/corruption`` when it no longer checks out.
    package func value(of record: RawRecord) throws(KVError) -> [UInt8] {
        // First: finding the dictionaries reads the segment header through the same window.
        let shelf = record.flags & RecordHeader.compressedFlag != 0 ? try dictionaries() : nil
        let raw = try bytes(at: record.offset, count: record.length)
        guard case .record(let header) = RecordHeader.parse(raw.baseAddress!, available: raw.count) else {
            throw KVError.corruption("the record no longer checks out", path: path, offset: Int64(record.offset))
        }
        let stored = UnsafeRawBufferPointer(rebasing: raw[(RecordHeader.size + header.keyLength)..<header.length])
        guard header.isCompressed, let shelf else { return Array(stored) }
        return try shelf.decompressed(stored, header: header, path: path, offset: record.offset)
    }

    /// The dictionaries of the store this segment is in (its directory, its header's store id).
    private func dictionaries() throws(KVError) -> DictionaryShelf {
        if let shelf { return shelf }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let made = try DictionaryShelf(directory: directory.isEmpty ? "." : directory, storeID: try header().storeID)
        shelf = made
        return made
    }

    // MARK: Internals

    /// Bytes `[at, at+count)` clipped to the file, valid until the next call.
    private func bytes(at: Int, count: Int) throws(KVError) -> UnsafeRawBufferPointer {
        let wanted = max(0, min(count, fileSize - at))
        if wanted == 0 { return UnsafeRawBufferPointer(start: window, count: 0) }
        if at >= windowStart && at + wanted <= windowStart + windowCount {
            return UnsafeRawBufferPointer(start: window + (at - windowStart), count: wanted)
        }
        if wanted > windowCapacity {
            window.deallocate()
            windowCapacity = alignedTo8(wanted) + 4096
            window = .allocate(byteCount: windowCapacity, alignment: 16)
        }
        windowStart = at
        windowCount = 0
        windowCount = try file.read(into: window, count: min(windowCapacity, fileSize - at), at: at)
        return UnsafeRawBufferPointer(start: window, count: min(wanted, windowCount))
    }

    /// Reports a damaged region from `at` to the last non-zero byte, then the end.
    private func damagedToEnd(at: Int, reason: String, record: RawRecord?, _ body: (RawSegmentEvent) throws -> Void) throws {
        var end = fileSize
        while end > at {
            let start = max(at, end - windowCapacity)
            let chunk = try bytes(at: start, count: end - start)
            guard let last = chunk.lastIndex(where: { $0 != 0 }) else {
                end = start
                continue
            }
            end = start + last + 1
            break
        }
        let stop = min(fileSize, max(alignedTo8(end), at + 8))
        try body(.damaged(offset: at, length: stop - at, reason: reason, record: record))
        try body(.end(offset: stop))
    }

    /// What the log reader's rule says of records stopping in a file read on its own, for dumping
    /// and salvaging: go past damage, and end at zeros nothing whole follows.
    private static func verdict(zeros: Bool) -> LogReader.Verdict {
        LogReader.verdict(role: .standalone, purpose: .inspect(resynchronize: true), zeros: zeros)
    }

    /// The first 8-byte boundary after `damaged` where a whole valid record starts.
    private func nextValidRecord(after damaged: Int) throws(KVError) -> Int? {
        try SegmentScanner.nextValidRecord(in: file, after: damaged, end: fileSize)
    }

    /// The header fields at `p`, and the key when it was read whole.
    private static func fields(_ p: UnsafeRawPointer, at offset: Int, available: Int) -> RawRecord {
        let f = RecordHeader.storedFields(p)
        let key: [UInt8]? = available >= RecordHeader.size + f.keyLength
            ? Array(UnsafeRawBufferPointer(start: p + RecordHeader.size, count: f.keyLength)) : nil
        return RawRecord(offset: offset, kind: f.kind, flags: f.flags, sequence: f.sequence, keyLength: f.keyLength,
                         storedValueLength: f.storedValueLength, rawValueLength: f.rawValueLength, dictionaryID: f.dictionaryID,
                         checksum: f.checksum, key: key)
    }
}

/// A compression dictionary of a store, as `kvtool stat` shows it.
package struct ToolingDictionary: Sendable {
    package var id: UInt16
    package var bytes: Int
    package var trainedOn: Int
    package var firstSegment: UInt32
    /// Why it cannot be read (missing, damaged); `nil` when it loads.
    package var problem: String?
}

extension Store {
    /// The store's dictionary files, by id; each loaded and checked.
    package func toolingDictionaries() -> [ToolingDictionary] {
        engine.dictionaries.all().map { id, result in
            switch result {
            case .success(let d):
                ToolingDictionary(id: id, bytes: d.count, trainedOn: d.trainedOn, firstSegment: d.firstSegment, problem: nil)
            case .failure(let error):
                ToolingDictionary(id: id, bytes: 0, trainedOn: 0, firstSegment: 0, problem: error.message)
            }
        }
    }
}
