#if canImport(Glibc)
import Glibc
#endif

/// The read path: hash, one probe sequence in the mapped index, the record (read in place when its
/// segment is mapped, with one `pread` otherwise), a checksum check, a key comparison. No lock is
/// held across the read, and with `withValue` nothing is allocated or copied (a mapped record's
/// value is handed over where it lies; a read one lands in a per-thread buffer).
extension StoreEngine {
    /// Calls `body` with the stored value of `key`, or returns `nil` when the key is absent.
    func withValue<R>(forKey key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        var bodyRan = false
        return try retryingVanishedSegments(retryIf: { !bodyRan }) { view throws -> R? in
            try value(forKey: key, view: &view) { bytes in
                bodyRan = true
                return try body(bytes)
            }
        }
    }

    /// Runs a read with the current view and runs it again with a newer one when a segment it
    /// needed was deleted (compaction moved the key's record, then removed the file) before its
    /// descriptor could be opened. `retryIf` says whether running again is still harmless.
    ///
    /// A live reader (FORMAT.md §12) first checks that its index is still the store's, and reads
    /// again after a vanished segment, or after a record that did not check out when meanwhile the
    /// writer replaced the index (a new writer's recovery rebuilt it and reused the bytes an old
    /// slot pointed at): a bounded number of times, since every such change leaves the slots
    /// pointing at records that exist.
    @inline(__always)
    private func retryingVanishedSegments<R>(retryIf: () -> Bool = { true }, _ read: (inout ReadView) throws -> R) throws -> R {
        var view = try views.get()
        if let live { view = try live.current(view) }
        var attempts = 0
        while true {
            do { return try read(&view) } catch let error as KVError where retryIf() {
                let vanished = error.code == .io && error.errno == ENOENT
                guard let live else {
                    guard vanished else { throw error }
                    let fresh = try views.get()
                    if fresh.segments === view.segments { throw error }
                    view = fresh
                    continue
                }
                attempts += 1
                // A dictionary the writer retired after this reader read a record of a segment
                // compaction has since deleted: like the segment, read again from the copy.
                let dictionaryGone = error.code == .corruption && error.message.hasPrefix("dictionary ")
                    && error.message.contains("is missing") && error.path?.hasSuffix(FileNames.dictionarySuffix) == true
                guard vanished || error.code == .corruption else { throw error }
                guard attempts <= Self.liveRetries else {
                    // Nothing the writer does leaves a slot pointing at a segment for this long.
                    if vanished { throw KVError.corruption("the index points into a segment that does not exist", path: error.path ?? directory, offset: 0) }
                    throw error
                }
                let before = view.index
                view = try live.current(try views.get())
                if !vanished && !dictionaryGone && view.index === before { throw error }
            }
        }
    }

    /// How many times a live reader reads again after a segment vanished under it.
    static let liveRetries = 8

    private func value<R>(forKey key: UnsafeRawBufferPointer, view: inout ReadView, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let hash = hasher.hash(key)
        return try view.slots.probe(hash: hash) { (_, word) throws -> R?? in
            let location = Location(word: word)
            // In place, touching only memory of this view's own stripe and the mapped bytes: no
            // shared object's reference count is written on this path.
            if let region = view.mappings.region(location.segmentID) {
                ReadCounter.count(at: region.counter, stripe: view.stripe)
                let (record, header) = try mappedRecord(region, at: location, view: view)
                guard RecordHeader.keyMatches(UnsafeRawBufferPointer(start: record, count: header.length), key) else { return nil }
                let stored = UnsafeRawBufferPointer(start: record + RecordHeader.size + header.keyLength, count: header.storedValueLength)
                guard header.isCompressed else { return .some(try body(stored)) }
                return .some(try decompressed(stored, header: header, at: location, view: view, body))
            }
            guard let file = try segmentFile(location.segmentID, view: &view) else { return nil }
            file.reads.count(stripe: view.stripe)
            let readLength = try recordLength(at: location, key: key, file: file, table: view.descriptors)
            guard readLength > 0 else { return nil }  // another key with the same hash
            return try ScratchBuffer.with(readLength) { (buffer) throws -> R?? in
                let n = try file.read(into: buffer, count: readLength, at: location.offset, table: view.descriptors)
                let header = try Self.validRecord(buffer, n, file: file, offset: location.offset)
                let record = UnsafeRawBufferPointer(start: buffer, count: header.length)
                guard RecordHeader.keyMatches(record, key) else { return nil }  // another key with the same hash
                let stored = UnsafeRawBufferPointer(start: buffer + RecordHeader.size + header.keyLength, count: header.storedValueLength)
                guard header.isCompressed else { return .some(try body(stored)) }
                return .some(try decompressed(stored, header: header, at: location, view: view, body))
            }
        } ?? nil
    }

    /// Hands the value a compressed record decompresses to, in a per-thread buffer, to `body`.
    private func decompressed<R>(_ stored: UnsafeRawBufferPointer, header: RecordHeader, at location: Location, view: ReadView,
                                 _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try ScratchBuffer.with(header.rawValueLength, slot: 1) { (out) throws -> R in
            try dictionaries.decompress(stored, header: header, into: out, path: segmentPath(location.segmentID, view: view),
                                        offset: location.offset)
            return try body(UnsafeRawBufferPointer(start: out, count: header.rawValueLength))
        }
    }

    /// The record at `location` in a mapped segment, checked in place exactly as a record read
    /// with `pread` is (``check(_:_:)``): bounds first, so that no damaged slot can make a get
    /// touch a byte outside the mapping.
    @inline(__always)
    func mappedRecord(_ region: MappedRegion, at location: Location, view: ReadView) throws(KVError) -> (UnsafeRawPointer, RecordHeader) {
        let offset = location.offset
        guard offset >= SegmentHeader.size, offset < region.length else {
            throw KVError.corruption("the index points past the end of the segment", path: segmentPath(location.segmentID, view: view),
                                     offset: Int64(offset))
        }
        let record = region.start + offset
        switch Self.check(record, region.length - offset) {
        case .valid(let header): return (record, header)
        case .invalid(let reason):
            throw KVError.corruption(reason, path: segmentPath(location.segmentID, view: view), offset: Int64(offset))
        }
    }

    /// The path of segment `id`, for an error (kept off the read path: a `String` is a shared
    /// object too).
    @inline(never)
    func segmentPath(_ id: UInt32, view: ReadView) -> String {
        view.segments.file(id)?.path ?? directory + "/" + FileNames.segment(id)
    }

    /// How many bytes to read for the record at `location`: its length code's, or, for a large
    /// record, the exact length from its header, checked against the file before anything is
    /// allocated (a damaged length code must not make a get allocate a gigabyte). 0 when the
    /// record's key length shows it is another key's.
    @inline(__always)
    private func recordLength(at location: Location, key: UnsafeRawBufferPointer, file: SegmentFile, table: DescriptorTable) throws(KVError) -> Int {
        guard location.readLength <= Location.maximumReadLength else {
            throw KVError.corruption("the index holds an impossible record length", path: file.path, offset: Int64(location.offset))
        }
        if location.readLength <= Self.smallRecordLimit { return location.readLength }
        let header = try ScratchBuffer.with(RecordHeader.size) { (buffer) throws(KVError) -> RecordHeader.Lengths? in
            let n = try file.read(into: buffer, count: RecordHeader.size, at: location.offset, table: table)
            return RecordHeader.lengths(UnsafeRawPointer(buffer), available: n)
        }
        guard let header else {
            throw KVError.corruption("the index points at bytes that are not a record", path: file.path, offset: Int64(location.offset))
        }
        if header.keyLength != key.count { return 0 }
        let size = try file.size()
        guard header.recordLength <= location.readLength, location.offset + header.recordLength <= size else {
            throw KVError.corruption("the index holds a record length the segment cannot hold", path: file.path, offset: Int64(location.offset))
        }
        return header.recordLength
    }

    /// Records up to this length are read in one `pread` sized by the length code (it over-reads
    /// by less than 0.1%); longer ones read their header first.
    static let smallRecordLimit = 1 << 20

    /// Whether `key` is present. Reads only the record's header and key.
    func contains(_ key: UnsafeRawBufferPointer) throws(KVError) -> Bool {
        try indexedSequence(forKey: key) != nil
    }

    /// The sequence number of the record the index holds for `key`, or `nil` when it holds none.
    /// Reads only the record's header and key.
    func indexedSequence(forKey key: UnsafeRawBufferPointer) throws(KVError) -> UInt64? {
        do { return try retryingVanishedSegments { view in try indexedSequence(forKey: key, view: &view) } } catch let error as KVError {
            throw error
        } catch {
            throw KVError(.io, "\(error)")
        }
    }

    private func indexedSequence(forKey key: UnsafeRawBufferPointer, view: inout ReadView) throws(KVError) -> UInt64? {
        let hash = hasher.hash(key)
        let needed = RecordHeader.size + key.count
        return try view.slots.probe(hash: hash) { (_, word) throws(KVError) -> UInt64? in
            let location = Location(word: word)
            if let region = view.mappings.region(location.segmentID) {
                ReadCounter.count(at: region.counter, stripe: view.stripe)
                guard location.offset >= SegmentHeader.size, location.offset <= region.length - needed else { return nil }
                let record = UnsafeRawBufferPointer(start: region.start + location.offset, count: needed)
                return RecordHeader.keyMatches(record, key) ? RecordHeader.storedSequence(record.baseAddress!) : nil
            }
            guard let file = try segmentFile(location.segmentID, view: &view) else { return nil }
            file.reads.count(stripe: view.stripe)
            return try ScratchBuffer.with(needed) { (buffer) throws(KVError) -> UInt64? in
                let n = try file.read(into: buffer, count: needed, at: location.offset, table: view.descriptors)
                let record = UnsafeRawBufferPointer(start: buffer, count: n)
                return RecordHeader.keyMatches(record, key) ? RecordHeader.storedSequence(record.baseAddress!) : nil
            }
        }
    }

    /// The file of a segment. A segment newer than the reader's view (the writer rolled meanwhile)
    /// is found by taking a fresh view; one that does not exist at all is corruption of the index.
    /// A live reader looks for a segment its view does not list on disk (``LiveReader/discover(_:)``).
    @inline(__always)
    func segmentFile(_ id: UInt32, view: inout ReadView) throws(KVError) -> SegmentFile? {
        if let file = view.segments.file(id) { return file }
        view = try views.get()
        if let file = view.segments.file(id) { return file }
        if let live {
            let file = try live.discover(id)
            view = try views.get()
            return file
        }
        throw KVError.corruption("the index points into segment \(id), which does not exist", path: directory + "/" + FileNames.index, offset: 0)
    }

    /// What the bytes at a record's position are: a complete, checksummed put, or why not.
    enum RecordCheck {
        case valid(RecordHeader)
        case invalid(String)
    }

    /// The one decision of what a get accepts as its record, wherever the bytes are (mapped or
    /// read): anything but a complete, checksummed put is corruption.
    @inline(__always)
    static func check(_ record: UnsafeRawPointer, _ count: Int) -> RecordCheck {
        switch RecordHeader.parse(record, available: count) {
        case .record(let header) where header.kind == .put: .valid(header)
        case .record: .invalid("the index points at a record that is not a put")
        case .end: .invalid("the index points past the end of the log")
        case .invalid(let reason): .invalid(reason)
        }
    }

    /// Parses a record read from `file` (``check(_:_:)``); throws corruption naming the file.
    @inline(__always)
    static func validRecord(_ buffer: UnsafeRawPointer, _ count: Int, file: SegmentFile, offset: Int) throws(KVError) -> RecordHeader {
        switch check(buffer, count) {
        case .valid(let header): return header
        case .invalid(let reason): throw KVError.corruption(reason, path: file.path, offset: Int64(offset))
        }
    }
}
