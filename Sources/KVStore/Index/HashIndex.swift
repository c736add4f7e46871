import Synchronization

/// The hash table in the memory-mapped `index` file (FORMAT.md §4).
///
/// Open addressing with linear probing over 16-byte slots: a 64-bit key hash and a 64-bit
/// ``Location``. No keys live in the index or in memory; every hash match is confirmed by the
/// caller against the key stored in the record.
///
/// Concurrency: one writer (serialized by the store) and any number of lock-free readers. Every
/// change a writer makes is published with one aligned 8-byte store, so a reader — or a process
/// killed with `kill -9` between any two instructions — sees either the old or the new state:
/// - insert: store the location, then publish the hash (release);
/// - update: swap the location word;
/// - remove: overwrite the hash with the tombstone marker 1. Tombstones are not reused until the
///   table is rebuilt, so a probe sequence never shortens under a reader.
final class HashIndex: @unchecked Sendable {
    // @unchecked: the mapping is shared between threads by design; see the type comment.
    static let slotSize = 16
    static let emptyHash: UInt64 = 0
    static let tombstoneHash: UInt64 = 1
    /// Grow (or rehash) when live + tombstone slots would pass this share of the capacity...
    static let maximumLoad = 0.75
    /// ...to a table in which the live keys fill this share: 16 / 0.51 ≈ 31.4 bytes of slots per key,
    /// which leaves room for the 4 KiB header page within 32 bytes per key from ~7,000 keys on.
    static let loadAfterGrowth = 0.51
    static let minimumCapacity = 1024

    let file: MappedFile
    /// The file in shared memory this table lives in, through the link `index`
    /// (``IndexResidence``); `nil` for a table in the store directory.
    let sharedMemoryPath: String?
    /// The pages written since this table was copied from the file the store was opened with,
    /// when that file was kept (``IndexResidence``): a clean close then writes only those.
    let dirtyPages: DirtyPages?
    let capacity: Int
    /// The slots, as a plain value a reader can probe without touching this object (see
    /// ``SlotTable``).
    let table: SlotTable
    private var slots: UnsafeMutableRawPointer { table.slots }
    private var header: UnsafeMutableRawPointer { file.base }

    /// The file size for a table of `capacity` slots.
    static func fileLength(capacity: Int) -> Int { IndexHeader.pageSize + capacity * slotSize }

    /// The capacity for `liveKeys` keys right after a rebuild or growth.
    static func capacity(forLiveKeys liveKeys: Int) -> Int {
        max(minimumCapacity, Int((Double(liveKeys) / loadAfterGrowth).rounded(.up)))
    }

    /// Wraps a mapped index file whose header has been validated.
    init(file: MappedFile, capacity: Int, sharedMemoryPath: String? = nil, tracksDirtyPages: Bool = false) {
        self.file = file
        self.sharedMemoryPath = sharedMemoryPath
        dirtyPages = tracksDirtyPages ? DirtyPages(length: file.length) : nil
        self.capacity = capacity
        self.table = SlotTable(slots: file.base + IndexHeader.pageSize, capacity: capacity)
    }

    // MARK: - Header words

    @inline(__always) func headerWord(_ offset: Int) -> UInt64 {
        (header + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring).littleEndianValue
    }

    @inline(__always) func setHeaderWord(_ offset: Int, _ value: UInt64) {
        (header + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(value.littleEndian, ordering: .releasing)
    }

    // Clamped: these come from a file and must never trap, whatever they hold.
    var liveCount: Int { Int(min(headerWord(IndexHeader.liveCount), UInt64(capacity))) }
    var tombstoneCount: Int { Int(min(headerWord(IndexHeader.tombstoneCount), UInt64(capacity))) }
    var covered: LogPosition { LogPosition(word: headerWord(IndexHeader.covered)) }
    var lastSequence: UInt64 { headerWord(IndexHeader.lastSequence) }
    var generation: UInt64 { headerWord(IndexHeader.generation) }

    /// Records that every record before `position` (up to `sequence`) is reflected in the slots.
    /// The sequence is stored first: a crash between the two stores makes recovery re-read one
    /// record, never skip one.
    @inline(__always) func setCovered(_ position: LogPosition, sequence: UInt64) {
        setHeaderWord(IndexHeader.lastSequence, sequence)
        setHeaderWord(IndexHeader.covered, position.word)
    }

    /// The end of the bytes the writer may have touched: after `kill -9`, everything between the
    /// end of the log and this point is wiped, so no unpublished bytes can later pass for a record.
    var writeLimit: LogPosition { LogPosition(word: headerWord(IndexHeader.writeLimit)) }
    @inline(__always) func setWriteLimit(_ position: LogPosition) { setHeaderWord(IndexHeader.writeLimit, position.word) }

    /// Whether inserting `count` more keys would pass the maximum load.
    func needsRehash(adding count: Int = 1) -> Bool {
        Double(liveCount + tombstoneCount + count) > Double(capacity) * Self.maximumLoad
    }

    // MARK: - Slots

    @inline(__always) private func slotWord(_ slot: Int, _ word: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        table.slotWord(slot, word)
    }

    @inline(__always) func hash(at slot: Int) -> UInt64 { table.hash(at: slot) }

    @inline(__always) func locationWord(at slot: Int) -> UInt64 { table.locationWord(at: slot) }

    @inline(__always) func firstSlot(for hash: UInt64) -> Int { table.firstSlot(for: hash) }

    /// Calls `candidate` with each slot whose hash equals `hash`, in probe order, until it returns
    /// a value (``SlotTable/probe(hash:_:)``).
    @inline(__always)
    func probe<R, E: Error>(hash: UInt64, _ candidate: (_ slot: Int, _ location: UInt64) throws(E) -> R?) throws(E) -> R? {
        try table.probe(hash: hash, candidate)
    }

    /// The slot that points at exactly the record at `offset` of segment `segmentID` (whose key
    /// hashes to `hash`): location equality, no key comparison needed. A record some slot points at
    /// is its key's latest.
    @inline(__always)
    func slot(pointingAt segmentID: UInt32, offset: Int, hash: UInt64) -> Int? {
        probe(hash: hash) { (slot, word) -> Int? in
            let location = Location(word: word)
            return location.segmentID == segmentID && location.offset == offset ? slot : nil
        }
    }

    /// Points an existing slot at a newer record.
    @inline(__always) func update(slot: Int, location: UInt64) {
        dirtyPages?.markSlot(slot)
        slotWord(slot, 1).pointee.store(location.littleEndian, ordering: .releasing)
    }

    /// Marks a slot removed.
    func remove(slot: Int) {
        let live = liveCount, tombstones = tombstoneCount
        beginChange(kind: 2, slot: slot, live: live, tombstones: tombstones)
        dirtyPages?.markSlot(slot)
        slotWord(slot, 0).pointee.store(Self.tombstoneHash.littleEndian, ordering: .releasing)
        setCounts(live: max(0, live - 1), tombstones: tombstones + 1)
        setHeaderWord(IndexHeader.pendingChange, 0)
    }

    /// Adds a key known not to be in the table, at the slot ``freeSlot(for:)`` returned for it (the
    /// writer finds the slot before it publishes the record, so that a table with no room fails the
    /// write before anything is in the log). The caller has checked ``needsRehash(adding:)``.
    func insert(hash: UInt64, location: UInt64, at slot: Int) {
        assert(self.hash(at: slot) == Self.emptyHash)
        let live = liveCount, tombstones = tombstoneCount
        beginChange(kind: 1, slot: slot, live: live, tombstones: tombstones)
        fill(slot, hash: hash, location: location)
        setCounts(live: live + 1, tombstones: tombstones)
        setHeaderWord(IndexHeader.pendingChange, 0)
    }

    // A slot change and the counters cannot be stored at once, so the header first records the
    // change and the counters before it (FORMAT.md §4.1). After `kill -9`, ``settlePendingChange()``
    // reads the slot to see whether the change happened and sets the counters to match, so the
    // counts are exact without scanning the table.
    private func beginChange(kind: UInt64, slot: Int, live: Int, tombstones: Int) {
        setHeaderWord(IndexHeader.pendingLive, UInt64(live))
        setHeaderWord(IndexHeader.pendingTombstones, UInt64(tombstones))
        setHeaderWord(IndexHeader.pendingChange, kind << 62 | UInt64(slot))
    }

    /// Finishes the counters of a change a crash interrupted. Returns `false` if the header
    /// describes an impossible change (then the caller recounts).
    func settlePendingChange() -> Bool {
        let pending = headerWord(IndexHeader.pendingChange)
        guard pending != 0 else { return true }
        let kind = pending >> 62
        let slot = Int(pending & ((1 << 62) - 1))
        guard slot < capacity, kind == 1 || kind == 2 else { return false }
        let live = Int(min(headerWord(IndexHeader.pendingLive), UInt64(capacity)))
        let tombstones = Int(min(headerWord(IndexHeader.pendingTombstones), UInt64(capacity)))
        let h = hash(at: slot)
        if kind == 1 {
            setCounts(live: h > Self.tombstoneHash ? live + 1 : live, tombstones: tombstones)
        } else {
            setCounts(live: h == Self.tombstoneHash ? max(0, live - 1) : live,
                      tombstones: h == Self.tombstoneHash ? tombstones + 1 : tombstones)
        }
        setHeaderWord(IndexHeader.pendingChange, 0)
        return true
    }

    /// Fills the first free slot of the probe sequence; counts are the caller's business.
    /// Throws when there is none (a table whose slots do not match its counts).
    func insertSlot(hash: UInt64, location: UInt64) throws(KVError) {
        guard let slot = freeSlot(for: hash) else { throw inconsistency("no empty slot left for a new key") }
        fill(slot, hash: hash, location: location)
    }

    /// The first empty slot of `hash`'s probe sequence, skipping `claimed` ones, or `nil` when the
    /// whole table has none. With the load kept under ``maximumLoad`` there always is one; only a
    /// damaged table (slots filled behind the counters' back) has none, and the probe must end
    /// then, not spin forever with the writer's lock held.
    @inline(__always) func freeSlot(for hash: UInt64, skipping claimed: Set<Int> = []) -> Int? {
        var slot = firstSlot(for: hash)
        for _ in 0..<capacity {
            if self.hash(at: slot) == Self.emptyHash && (claimed.isEmpty || !claimed.contains(slot)) { return slot }
            slot &+= 1
            if slot == capacity { slot = 0 }
        }
        return nil
    }

    /// Whether the header's counters are possible for this table: growth keeps live + removed slots
    /// under ``maximumLoad``, so more is damage (one change may be in flight after `kill -9`).
    var countsArePlausible: Bool {
        let live = headerWord(IndexHeader.liveCount), tombstones = headerWord(IndexHeader.tombstoneCount)
        return live <= UInt64(capacity) && tombstones <= UInt64(capacity)
            && Double(live + tombstones) <= Double(capacity) * Self.maximumLoad + 1
    }

    /// Records in the header that the slots cannot be trusted, so that the next open rebuilds the
    /// index from the log whatever else the header says, and returns the error to throw. The
    /// writer also refuses further writes until the store is reopened (``isMarkedInconsistent``).
    func inconsistency(_ reason: String) -> KVError {
        if file.isWritable {
            file.base.storeLE(IndexHeader.stateInconsistent, at: IndexHeader.state)
            try? file.sync(offset: 0, length: IndexHeader.pageSize)
        }
        return KVError(.corruption, "the index is inconsistent (\(reason)); it is rebuilt from the log when the store is opened again",
                       path: file.path, offset: 0)
    }

    var isMarkedInconsistent: Bool { UnsafeRawPointer(file.base).loadLE(UInt32.self, at: IndexHeader.state) == IndexHeader.stateInconsistent }

    /// Publishes a slot: location first, then the hash that makes it visible.
    @inline(__always) private func fill(_ slot: Int, hash: UInt64, location: UInt64) {
        dirtyPages?.markSlot(slot)
        slotWord(slot, 1).pointee.store(location.littleEndian, ordering: .relaxed)
        slotWord(slot, 0).pointee.store(hash.littleEndian, ordering: .releasing)
    }

    /// Sets the live and tombstone counters (after a rebuild or a recount).
    func setCounts(live: Int, tombstones: Int) {
        setHeaderWord(IndexHeader.liveCount, UInt64(live))
        setHeaderWord(IndexHeader.tombstoneCount, UInt64(tombstones))
    }

    /// Counts live and removed slots by scanning the table. After `kill -9` the header counters can
    /// be off by the one change that was in flight; the slots themselves never are.
    func recount() -> (live: Int, tombstones: Int) {
        var live = 0, tombstones = 0
        for slot in 0..<capacity {
            switch hash(at: slot) {
            case Self.emptyHash: break
            case Self.tombstoneHash: tombstones += 1
            default: live += 1
            }
        }
        return (live, tombstones)
    }

    /// Calls `body` with every live slot's hash and location.
    func forEachLive(_ body: (_ slot: Int, _ hash: UInt64, _ location: UInt64) throws -> Void) rethrows {
        for slot in 0..<capacity {
            let h = hash(at: slot)
            if h > Self.tombstoneHash { try body(slot, h, locationWord(at: slot)) }
        }
    }
}

extension UInt64 {
    @inline(__always) var littleEndianValue: UInt64 { UInt64(littleEndian: self) }
}

/// The slots of an index as a plain value: where they are mapped and how many. Where the probe is:
/// a get probes through the copy its ``ReadView`` holds, so that it never touches the
/// ``HashIndex`` object, whose reference count every reading core would otherwise write on every
/// get (measured: with two reading threads, retains and releases of shared objects took a fifth
/// of the time). The view keeps the index, and so the mapping, alive.
struct SlotTable: @unchecked Sendable {
    // @unchecked: the slots are only ever read and written through atomics.
    let slots: UnsafeMutableRawPointer
    let capacity: Int

    @inline(__always) func slotWord(_ slot: Int, _ word: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (slots + (slot &* HashIndex.slotSize &+ word &* 8)).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always) func hash(at slot: Int) -> UInt64 {
        slotWord(slot, 0).pointee.load(ordering: .acquiring).littleEndianValue
    }

    @inline(__always) func locationWord(at slot: Int) -> UInt64 {
        slotWord(slot, 1).pointee.load(ordering: .acquiring).littleEndianValue
    }

    @inline(__always) func firstSlot(for hash: UInt64) -> Int {
        // Multiply-shift maps the hash onto any capacity without a division.
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(capacity)).high)
    }

    /// Calls `candidate` with each slot whose hash equals `hash`, in probe order, until it returns
    /// a value. Returns `nil` at the first empty slot. Bounded by the capacity, so a damaged table
    /// (no empty slot) ends the probe instead of looping.
    @inline(__always)
    func probe<R, E: Error>(hash: UInt64, _ candidate: (_ slot: Int, _ location: UInt64) throws(E) -> R?) throws(E) -> R? {
        var slot = firstSlot(for: hash)
        for _ in 0..<capacity {
            let h = self.hash(at: slot)
            if h == HashIndex.emptyHash { return nil }
            if h == hash, let result = try candidate(slot, locationWord(at: slot)) { return result }
            slot &+= 1
            if slot == capacity { slot = 0 }
        }
        return nil
    }
}

