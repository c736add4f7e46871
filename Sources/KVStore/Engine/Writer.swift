#if canImport(Glibc)
import Glibc
#endif

/// One operation of a write: set or remove a key.
enum WriteOperation {
    case set(key: [UInt8], value: [UInt8])
    case remove(key: [UInt8])
}

/// The append path. One writer at a time (the store holds it under a lock); readers run beside it.
///
/// A put is: copy the record into the mapped active segment, checksum it, publish its commit word,
/// point the index at it, advance the index's `covered` position. No system call in the common
/// case. Order matters for crash safety: a record is published before any slot points at it, and
/// `covered` moves only after the slot, so recovery after `kill -9` re-applies at most the last
/// record (re-applying is idempotent).
final class Writer: @unchecked Sendable {
    // @unchecked: a Writer is only ever used under the store's writer lock (StoreEngine.writer).
    let directory: String
    let storeID: UInt64
    let hasher: KeyHasher
    let configuration: Store.Configuration
    /// Where a grown index may go in shared memory (``Store/Configuration/indexPlacement``).
    let indexResidence: IndexResidence?
    let views: ViewBox
    let coordinator: SyncCoordinator
    let sealer: Sealer
    private(set) var active: ActiveSegment
    private(set) var index: HashIndex
    private(set) var segments: SegmentTable
    /// The sequence number the next record gets.
    private(set) var nextSequence: UInt64
    /// Writes that made an older record dead (overwrites and removals) since open: automatic
    /// compaction plans again only when this moved (``Compactor``), so a store that is only ever
    /// added to is never walked for dead bytes.
    private(set) var supersedingWrites = 0
    let mappings: MappingManager
    /// The active segment as this process's gets read it in place; `nil` with a budget of 0.
    private(set) var activeRegion: ActiveRegion?
    /// The store's compression dictionaries, and how this writer compresses and trains them.
    let dictionaries: DictionaryShelf
    private(set) var compressor: ValueCompressor
    let manifest: ManifestFile

    init(directory: String, storeID: UInt64, hasher: KeyHasher, configuration: Store.Configuration, views: ViewBox,
         coordinator: SyncCoordinator, sealer: Sealer, active: ActiveSegment, index: HashIndex,
         segments: SegmentTable, nextSequence: UInt64, mappings: MappingManager, dictionaries: DictionaryShelf,
         manifest: ManifestFile, indexResidence: IndexResidence?) {
        self.dictionaries = dictionaries
        self.manifest = manifest
        compressor = ValueCompressor(trains: configuration.compression == .lz4 && configuration.trainsDictionaries,
                                     existing: DictionaryShelf.fileIDs(in: directory), shelf: dictionaries,
                                     activeSegment: active.id)
        self.directory = directory
        self.storeID = storeID
        self.hasher = hasher
        self.configuration = configuration
        self.indexResidence = indexResidence
        self.views = views
        self.coordinator = coordinator
        self.sealer = sealer
        self.active = active
        self.index = index
        self.segments = segments
        self.nextSequence = nextSequence
        self.mappings = mappings
        if mappings.budget > 0 {
            activeRegion = ActiveRegion(segment: active)
            mappings.setActive(activeRegion)
        }
    }

    var lastSequence: UInt64 { nextSequence - 1 }

    // MARK: - Operations

    /// Appends a put and indexes it. Returns its sequence number.
    ///
    /// Every step that can fail (rolling, reading the old record's key, growing the index, finding
    /// a free slot) comes before the record is written: a put that throws leaves every byte past
    /// the end of the log zero, so no later replay or rebuild can find any of it.
    func set(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(KVError) -> UInt64 {
        let length = RecordHeader.size + key.count + value.count
        let offset = try room(for: length)
        let hash = hasher.hash(key)
        let existingSlot = try indexing { () throws(KVError) in try findSlot(hash: hash, key: key) }
        var newSlot: Int? = nil
        if existingSlot == nil {
            newSlot = try indexing { () throws(KVError) -> Int in
                if index.needsRehash() { try rehash(adding: 1) }
                guard let slot = index.freeSlot(for: hash) else { throw index.inconsistency("no empty slot left for a new key") }
                return slot
            }
        }
        let sequence = nextSequence
        let header = encode(.put, key: key, value: value, sequence: sequence, at: active.mapping.base + offset)
        let location = Location(segmentID: active.id, offset: offset, recordLength: header.length)
        active.publish(commitWord: header.commitWord(checksum: header.checksum(recordAt: active.mapping.base + offset)), at: offset)
        if let slot = existingSlot {
            index.update(slot: slot, location: location.word)
            supersedingWrites &+= 1
        } else if let slot = newSlot {
            index.insert(hash: hash, location: location.word, at: slot)
        }
        finish(length: header.length, sequence: sequence)
        if compressor.trains && compressor.observe(value) { trainDictionary() }
        return sequence
    }

    /// Makes a compression dictionary from the values sampled, when it pays (``ValueCompressor``).
    /// Called after a write completed: nothing about that write depends on it.
    @inline(never)
    private func trainDictionary() {
        let manifest = self.manifest
        compressor.train(shelf: dictionaries, storeID: storeID, activeSegment: active.id) { () throws(KVError) in
            try manifest.recordIncompatibleFeatures(Features.dictionaries)
        }
    }

    /// Runs an index step of a write. An index found inconsistent has been marked for a rebuild
    /// (``HashIndex/inconsistency(_:)``); the store then refuses writes until it is reopened, so
    /// that a clean close cannot mark the damaged table trusted again.
    @inline(__always)
    private func indexing<R>(_ body: () throws(KVError) -> R) throws(KVError) -> R {
        do { return try body() } catch {
            if index.isMarkedInconsistent { coordinator.fail(error) }
            throw error
        }
    }

    /// Appends a tombstone if the key exists. Returns whether it existed and the sequence to wait for.
    func remove(key: UnsafeRawBufferPointer) throws(KVError) -> (existed: Bool, sequence: UInt64) {
        let hash = hasher.hash(key)
        guard let slot = try findSlot(hash: hash, key: key) else { return (false, lastSequence) }
        let length = RecordHeader.size + key.count
        // Rolling to a new segment in room(for:) leaves the index, and so `slot`, as it was.
        let offset = try room(for: length)
        let sequence = nextSequence
        let header = encode(.delete, key: key, value: UnsafeRawBufferPointer(start: nil, count: 0), sequence: sequence,
                            at: active.mapping.base + offset)
        active.publish(commitWord: header.commitWord(checksum: header.checksum(recordAt: active.mapping.base + offset)), at: offset)
        index.remove(slot: slot)
        supersedingWrites &+= 1
        finish(length: header.length, sequence: sequence)
        return (true, sequence)
    }

    /// Appends a batch atomically: a batch record, then its members, all in one segment; the batch
    /// record's commit word is published last, so the batch appears whole or not at all, to
    /// recovery after `kill -9` and (through the checksums) after power loss.
    func write(_ operations: [WriteOperation]) throws(KVError) -> UInt64 {
        guard !operations.isEmpty else { return lastSequence }
        let batchLength = RecordHeader.size + 8
        var total = alignedTo8(batchLength)
        for op in operations {
            switch op {
            case .set(let key, let value): total += alignedTo8(RecordHeader.size + key.count + value.count)
            case .remove(let key): total += alignedTo8(RecordHeader.size + key.count)
            }
        }
        guard total <= Limits.maximumSegmentSize - SegmentHeader.size else {
            throw KVError(.invalidArgument, "the batch is larger than the largest segment (\(Limits.maximumSegmentSize) bytes)")
        }
        let start = try room(for: total)
        // Everything that can fail before any byte of the batch is written (see `set`): growth for
        // every member that may be a new key, then each member's slot: the one its key has (a read
        // of the old record to compare keys, which can fail), or a free one, distinct per new key.
        // Applying the plan after the batch is published then cannot fail, so a batch is in the
        // index whole or, when this throws, not in the log at all.
        let inserts = operations.reduce(0) { if case .set = $1 { $0 + 1 } else { $0 } }
        let plan = try indexing { () throws(KVError) -> [SlotChange] in
            if index.needsRehash(adding: inserts) { try rehash(adding: inserts) }
            return try planSlots(operations)
        }
        let base = active.mapping.base
        var sequence = nextSequence
        let batchHeader = RecordHeader(kind: .batch, flags: 0, sequence: sequence, keyLength: 0, storedValueLength: 8, rawValueLength: 8)
        batchHeader.encodeBody(into: base + start)
        (base + start).storeLE(UInt32(operations.count), at: RecordHeader.size)
        (base + start).storeLE(UInt32(0), at: RecordHeader.size + 4)
        var offset = start + alignedTo8(batchLength)
        var locations: [Location] = []
        locations.reserveCapacity(operations.count)
        for op in operations {
            sequence += 1
            let header: RecordHeader
            switch op {
            case .set(let key, let value):
                header = key.withUnsafeBytes { k in value.withUnsafeBytes { v in encode(.put, key: k, value: v, sequence: sequence, at: base + offset) } }
            case .remove(let key):
                header = key.withUnsafeBytes { k in encode(.delete, key: k, value: UnsafeRawBufferPointer(start: nil, count: 0), sequence: sequence, at: base + offset) }
            }
            locations.append(Location(segmentID: active.id, offset: offset, recordLength: header.length))
            // Members are complete records; they stay invisible until the batch record is published.
            let word = header.commitWord(checksum: header.checksum(recordAt: base + offset))
            (base + offset).storeLE(word, at: 0)
            offset += header.alignedLength
        }
        active.publish(commitWord: batchHeader.commitWord(checksum: batchHeader.checksum(recordAt: base + start)), at: start)
        // By what was written: compressed members are shorter than `total` reserved.
        active.advance(by: offset - start)
        nextSequence = sequence + 1
        // Readers in other processes could otherwise find a half-applied batch in the index of a
        // writer killed right here, and keep seeing it until the next writer replays it.
        let tearable = operations.count > 1
        if tearable { index.setApplyingBatch(LogPosition(segmentID: active.id, offset: start)) }
        for (change, location) in zip(plan, locations) {
            switch change {
            case .update(let slot):
                index.update(slot: slot, location: location.word)
                supersedingWrites &+= 1
            case .insert(let slot, let hash): index.insert(hash: hash, location: location.word, at: slot)
            case .remove(let slot):
                index.remove(slot: slot)
                supersedingWrites &+= 1
            case .none: break
            }
        }
        index.setCovered(LogPosition(segmentID: active.id, offset: active.end), sequence: sequence)
        if tearable { index.setApplyingBatch(nil) }
        coordinator.noteWritten(sequence)
        if compressor.trains {
            var due = false
            for case .set(_, let value) in operations { value.withUnsafeBytes { if compressor.observe($0) { due = true } } }
            if due { trainDictionary() }
        }
        return sequence
    }

    /// What applying one member of a batch does to the index.
    private enum SlotChange {
        case update(Int)
        case insert(Int, hash: UInt64)
        case remove(Int)
        case none
    }

    /// Each member's slot change, in order, as if the earlier members were already applied: a key
    /// set twice updates the slot its first set takes; a key removed and set again takes a new
    /// slot (a removed slot is not reused until the table is rebuilt).
    private func planSlots(_ operations: [WriteOperation]) throws(KVError) -> [SlotChange] {
        var plan: [SlotChange] = []
        plan.reserveCapacity(operations.count)
        var claimed = Set<Int>()
        // Keys met earlier in this batch, by hash: the slot each holds now (nil: removed).
        var earlier: [UInt64: [(key: [UInt8], slot: Int?)]] = [:]
        for op in operations {
            let key: [UInt8]
            switch op {
            case .set(let k, _), .remove(let k): key = k
            }
            let hash = key.withUnsafeBytes { hasher.hash($0) }
            let seen = earlier[hash]?.lastIndex { $0.key == key }
            let current: Int?
            if let seen { current = earlier[hash]![seen].slot } else {
                current = try key.withBytes { (k) throws(KVError) in try findSlot(hash: hash, key: k) }
            }
            let after: Int?
            switch (op, current) {
            case (.set, let slot?):
                plan.append(.update(slot))
                after = slot
            case (.set, nil):
                guard let free = index.freeSlot(for: hash, skipping: claimed) else { throw index.inconsistency("no empty slot left for a new key") }
                claimed.insert(free)
                plan.append(.insert(free, hash: hash))
                after = free
            case (.remove, let slot?):
                plan.append(.remove(slot))
                after = nil
            case (.remove, nil):
                plan.append(.none)
                after = nil
            }
            if let seen { earlier[hash]![seen].slot = after } else { earlier[hash, default: []].append((key, after)) }
        }
        return plan
    }

    // MARK: - Record encoding

    /// Writes a record's body (everything but the commit word) at `p`, compressing the value when
    /// configured and worth it. The caller reserved room for the uncompressed record.
    @inline(__always)
    func encode(_ kind: RecordKind, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, sequence: UInt64,
                        at p: UnsafeMutableRawPointer) -> RecordHeader {
        if key.count > 0 { (p + RecordHeader.size).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        let valueAt = p + RecordHeader.size + key.count
        var stored = value.count
        var flags: UInt8 = 0
        var dictionaryID: UInt16 = 0
        if configuration.compression == .lz4, kind == .put,
           let (n, dictionary) = compressor.compress(value, into: valueAt, capacity: value.count - 1) {
            stored = n
            flags = RecordHeader.compressedFlag | (dictionary != 0 ? RecordHeader.dictionaryFlag : 0)
            dictionaryID = dictionary
        } else if value.count > 0 {
            valueAt.copyMemory(from: value.baseAddress!, byteCount: value.count)
        }
        let header = RecordHeader(kind: kind, flags: flags, sequence: sequence, keyLength: key.count,
                                  storedValueLength: stored, rawValueLength: value.count, dictionaryID: dictionaryID)
        header.encodeBody(into: p)
        // The padding up to the next 8-byte boundary is already zero: the segment was preallocated
        // with zeros and every byte past `end` is kept zero (recovery wipes torn tails).
        return header
    }

    @inline(__always)
    func finish(length: Int, sequence: UInt64) {
        active.advance(by: length)
        nextSequence = sequence + 1
        index.setCovered(LogPosition(segmentID: active.id, offset: active.end), sequence: sequence)
        coordinator.noteWritten(sequence)
    }

    // MARK: - Finding a key

    /// The slot holding `key`, confirmed against the key stored in its record.
    func findSlot(hash: UInt64, key: UnsafeRawBufferPointer) throws(KVError) -> Int? {
        try index.probe(hash: hash) { (slot, word) throws(KVError) -> Int? in
            try recordHasKey(Location(word: word), key) ? slot : nil
        }
    }

    /// Whether the record at `location` carries `key`. Records in the active segment are compared in
    /// the writer's mapping, those of a sealed segment the mapping manager has mapped in that
    /// mapping (the view holds it while it is compared); others need one `pread` of their header
    /// and key.
    private func recordHasKey(_ location: Location, _ key: UnsafeRawBufferPointer) throws(KVError) -> Bool {
        let needed = RecordHeader.size + key.count
        if location.segmentID == active.id {
            guard let bytes = active.bytes(at: location.offset, count: needed) else { return false }
            return RecordHeader.keyMatches(bytes, key)
        }
        if mappings.budget > 0, let view = try? views.get(), let region = view.mappings.region(location.segmentID) {
            // Bytes from disk never trap: the offset is checked against the mapping first.
            guard location.offset >= 0, location.offset <= region.length - needed else { return false }
            return withExtendedLifetime(view) {
                RecordHeader.keyMatches(UnsafeRawBufferPointer(start: region.start + location.offset, count: needed), key)
            }
        }
        guard let file = segments.file(location.segmentID) else { return false }
        return try ScratchBuffer.with(needed) { (buffer) throws(KVError) -> Bool in
            let n = try file.read(into: buffer, count: needed, at: location.offset)
            return n == needed && RecordHeader.keyMatches(UnsafeRawBufferPointer(start: buffer, count: n), key)
        }
    }


    // MARK: - Segments

    /// The offset where a record of `length` bytes goes, rolling to a new segment if needed.
    func room(for length: Int) throws(KVError) -> Int {
        try coordinator.checkFailure()
        if active.reserve(length) == nil {
            try roll(toFit: length)
            _ = active.reserve(length)
        }
        // Recovery after kill -9 wipes up to here: bytes of a record that was never published.
        index.setWriteLimit(LogPosition(segmentID: active.id, offset: active.end + alignedTo8(length)))
        return active.end
    }

    /// Seals the active segment now and starts the next one, as when it fills: a backup links
    /// what is sealed and copies only what is not.
    func sealForBackup() throws(KVError) { try roll(toFit: 0) }

    /// Seals the active segment and starts the next one.
    ///
    /// The next segment is created under a temporary name and renamed only after the sealed one
    /// is truncated to its records, so a sealed segment never ends in preallocated zeros: a
    /// rebuild can then take a sealed segment that ends before its file does as the point where a
    /// power loss cut the history (FORMAT.md §6).
    private func roll(toFit length: Int) throws(KVError) {
        let capacity = max(configuration.segmentSize, SegmentHeader.size + alignedTo8(length))
        let next = try ActiveSegment.create(directory: directory, id: active.id + 1, storeID: storeID,
                                            capacity: (capacity + 4095) & ~4095, temporary: true, descriptors: active.file.descriptors)
        let sealedFile = active.file
        // Stays pinned (so the sealer's sync needs no new descriptor) until the sealer unpins it.
        let sealedDescriptor = active.descriptor
        let sealedEnd = active.end
        // Gets in this process read the old segment in place no further than its records, and
        // new views no longer list it; then the gets still under way finish with it.
        releaseActiveRegion(sealedAt: sealedEnd)
        if mappings.budget > 0 {
            activeRegion = ActiveRegion(segment: next)
            mappings.setActive(activeRegion)
        }
        // Dropping the old ActiveSegment unmaps it (the writer holds the only reference now); only
        // then is it safe to truncate the file to its records.
        active = next
        do throws(KVError) {
            do { try Sys.truncate(sealedDescriptor.fd, length: Int64(sealedEnd)) } catch {
                throw error.kvError("ftruncate", path: sealedFile.path)
            }
            // Sealed only now, truncated to its records: from here on the mapping manager may map
            // it, at the size it will keep for ever.
            sealedFile.lifecycle.advance(to: .sealed)
            try next.commitName()
        } catch {
            // The writer is past the point of no return: refuse further writes until reopened,
            // when recovery continues the old segment.
            coordinator.fail(error)
            throw error
        }
        coordinator.noteActive(next.file, created: true)
        segments = segments.adding(next.file)
        index.setCovered(LogPosition(segmentID: next.id, offset: next.end), sequence: lastSequence)
        views.publish(ReadView(index: index, segments: segments))
        sealer.seal(sealedFile)
    }

    /// Stops this process's gets from reading the active segment through the writer's mapping
    /// past `end`, publishes views without it, and gives the gets still holding it a moment to
    /// finish: the file is about to be truncated to `end`, and a page past the end of a file is
    /// SIGBUS. Only a damaged slot could point past `end`, and every get checks its record against
    /// the limit first; the wait covers a get that checked just before the limit moved. It is
    /// bounded (a `withValue` body may run for as long as it likes) and sleeps rather than spins,
    /// so that a get preempted while holding the view gets the core back.
    func releaseActiveRegion(sealedAt end: Int) {
        guard var region = activeRegion else { return }
        region.seal(at: end)
        activeRegion = nil
        mappings.setActive(nil)
        var waits = 0
        while !isKnownUniquelyReferenced(&region), waits < Self.regionReleaseWaits {
            usleep(20)
            waits += 1
        }
    }

    /// 50 × 20 µs: a get holds its view for a microsecond or two.
    private static let regionReleaseWaits = 50

    // MARK: - Index growth

    /// Builds a larger table in a new file, syncs it, renames it over the old one and moves readers
    /// over. Readers holding the old table keep a valid mapping until they let go of it.
    func rehash(adding: Int) throws(KVError) {
        if configuration.lockIndexInMemory {
            // Before anything changes: a table that could not be locked is not made.
            let length = HashIndex.fileLength(capacity: HashIndex.capacity(forLiveKeys: index.liveCount + adding))
            try HashIndex.checkLockable(length: length, path: index.file.path)
        }
        index = try index.grow(directory: directory, adding: adding, bootID: configuration.bootID ?? BootID.current(),
                               residence: indexResidence, placement: configuration.indexPlacement)
        views.publish(ReadView(index: index, segments: segments))
        if configuration.lockIndexInMemory { try index.lockInMemory() }
    }

    /// Replaces the segment table (compaction) and republishes the view.
    func replaceSegments(_ table: SegmentTable) {
        segments = table
        views.publish(ReadView(index: index, segments: table))
    }
}
