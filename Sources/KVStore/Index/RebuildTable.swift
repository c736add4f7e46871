#if canImport(Glibc)
import Glibc
#endif
import CKVSupport

/// The table a rebuild fills: the new index file itself, mapped, so that the rebuild's memory is
/// the page cache's and not the process's (FORMAT.md §6).
///
/// Records may be offered in any order; the one furthest along the log wins (records are appended
/// in sequence order, FORMAT.md §7). A rebuild offers the newest segment first, so that a key's
/// first record mostly decides and an older one is dismissed without a write; ``Store/verify()``
/// offers them oldest first. A put takes a slot; a delete takes one too, as a *removal mark* (a
/// location with length code 0, which no record has), so that the key's older puts stay out. Keys are
/// compared exactly: a slot whose hash matches is confirmed against the key of the record it
/// points at, read from the segment through a read-only mapping (``SegmentKeys``). Marks become
/// nothing at the end: ``finish(expectedKeys:)`` copies the live slots into a table sized for them
/// when there were any, or when the table was sized for far more keys than it got.
///
/// A rebuild fills it one window of slots at a time in private memory (``RebuildWindows``, why is
/// there): records are then offered once per window, each to the window that holds its key's first
/// slot. ``Store/verify()`` and a rebuild whose windows overflowed write into the mapped file.
struct RebuildTable {
    private(set) var index: HashIndex
    /// Where offers go: the mapped file's slots, or the current window's (numbered as in the
    /// whole table either way).
    private var slots: SlotTable
    /// The first slot number a probe must not reach: the table's end, where it wraps to slot 0,
    /// or past the current window's spill.
    private var limit: Int
    private let windows: RebuildWindows?
    /// A probe ran past its window's spill, or the keys outgrew a table that cannot grow while it
    /// is built in windows: what was built is incomplete, and the caller builds it again mapped.
    private(set) var overflowed = false
    private let path: String
    private let storeID: UInt64
    private let hashSeed: UInt64
    private let generation: UInt64
    private let bootID: [UInt8]
    private var keys: SegmentKeys
    /// Slots holding a put or a removal mark.
    private(set) var occupied = 0
    private(set) var marks = 0
    /// Copies into a larger table while records were offered (for the progress report and tests).
    private(set) var growths = 0
    var live: Int { occupied - marks }

    /// The length code 0 of a location: a removal mark (a record is at least 32 bytes long).
    @inline(__always) static func isMark(_ word: UInt64) -> Bool { word & 0xFFFF == 0 }

    /// A table of `capacity` slots in a new file at `path`: built in windows of at most
    /// `windowBytes` when given (call ``beginWindow(_:)`` and ``finishWindow()`` around each
    /// window's offers), else written in the mapped file directly.
    init(path: String, capacity: Int, storeID: UInt64, hashSeed: UInt64, generation: UInt64, bootID: [UInt8],
         segments: [SegmentFile], windowBytes: Int? = nil, spill: Int = RebuildWindows.defaultSpill) throws(KVError) {
        self.path = path
        self.storeID = storeID
        self.hashSeed = hashSeed
        self.generation = generation
        self.bootID = bootID
        self.keys = SegmentKeys(segments)
        index = try Self.create(path: path, capacity: capacity, storeID: storeID, hashSeed: hashSeed,
                                generation: generation, bootID: bootID, populate: windowBytes == nil)
        slots = index.table
        limit = capacity
        if let windowBytes {
            windows = try RebuildWindows(capacity: capacity, windowBytes: windowBytes, spill: spill, fd: index.file.fd, path: path)
        } else {
            windows = nil
        }
    }

    /// A new table file; when it will be written through its mapping, its pages are faulted in for
    /// writing in bulk if it fits in memory: every page of it will be written, and one call per
    /// megabyte is cheaper than a write fault per page.
    private static func create(path: String, capacity: Int, storeID: UInt64, hashSeed: UInt64, generation: UInt64,
                               bootID: [UInt8], populate: Bool = true) throws(KVError) -> HashIndex {
        let index = try HashIndex.create(path: path, capacity: capacity, storeID: storeID, hashSeed: hashSeed,
                                         generation: generation, bootID: bootID)
        let physical = Sys.physicalMemory()
        if populate && (physical == 0 || index.file.length <= physical / 4) {
            Sys.populateForWriting(index.file.base, length: index.file.length)
        }
        return index
    }

    /// How many windows the records must be offered to (1 for a table written in its file).
    var windowCount: Int { windows?.count ?? 1 }

    /// Starts window `window` (in order, from 0): offers then go to its slots.
    mutating func beginWindow(_ window: Int) {
        guard let windows else { return }
        (slots, limit) = windows.begin(window)
    }

    /// Whether a record of a key hashing to `hash` is offered to the current window.
    @inline(__always) func holds(_ hash: UInt64) -> Bool {
        windows?.holds(firstSlot: slots.firstSlot(for: hash)) ?? true
    }

    /// Writes the current window into the file.
    mutating func finishWindow() throws(KVError) {
        guard let windows else { return }
        try windows.finishWindow()
        if windows.current == windows.count - 1 { slots = index.table; limit = index.capacity }
    }

    /// Where `hash`'s probe starts, for prefetching a batch of records before offering them.
    @inline(__always) func prefetch(_ hash: UInt64) {
        kv_prefetch(UnsafeRawPointer(slots.slotWord(slots.firstSlot(for: hash), 0)))
    }

    /// Prefetches the key of the record the first slot of `hash` points at, if its hash is `hash`:
    /// the comparison an overwrite will make.
    @inline(__always) mutating func prefetchRecord(of hash: UInt64) {
        let table = slots
        let slot = table.firstSlot(for: hash)
        guard table.hash(at: slot) == hash else { return }
        let location = Location(word: table.locationWord(at: slot))
        keys.prefetch(segmentID: location.segmentID, offset: location.offset)
    }

    /// Offers the record at `offset` of segment `segmentID`: it becomes its key's record unless the
    /// slot of its key holds one further along the log.
    @inline(__always)
    mutating func offer(hash: UInt64, key: UnsafeRawBufferPointer, segmentID: UInt32, offset: Int, length: Int,
                        isDelete: Bool) throws(KVError) {
        guard !overflowed else { return }
        let table = slots
        let word = isDelete ? Location(segmentID: segmentID, offset: offset, readLength: 0).word
                            : Location(segmentID: segmentID, offset: offset, recordLength: length).word
        var slot = table.firstSlot(for: hash)
        assert(windows?.holds(firstSlot: slot) ?? true, "a record offered to a window that does not hold its key")
        for _ in 0..<table.capacity {
            let h = table.hash(at: slot)
            if h == HashIndex.emptyHash { break }
            if h == hash {
                let existing = table.locationWord(at: slot)
                let location = Location(word: existing)
                if keys.keyMatches(key, segmentID: location.segmentID, offset: location.offset) {
                    guard (location.segmentID, location.offset) < (segmentID, offset) else { return }  // a newer record decided
                    table.slotWord(slot, 1).pointee.store(word.littleEndian, ordering: .relaxed)
                    marks += (isDelete ? 1 : 0) - (Self.isMark(existing) ? 1 : 0)
                    return
                }
            }
            slot &+= 1
            if slot == limit {
                guard windows == nil || windows!.count == 1 else { overflowed = true; return }
                slot = 0
            }
        }
        guard table.hash(at: slot) == HashIndex.emptyHash else {
            if windows != nil { overflowed = true; return }
            throw index.inconsistency("no empty slot left while rebuilding")
        }
        table.slotWord(slot, 1).pointee.store(word.littleEndian, ordering: .relaxed)
        table.slotWord(slot, 0).pointee.store(hash.littleEndian, ordering: .relaxed)
        occupied += 1
        if isDelete { marks += 1 }
        if Double(occupied) > Double(table.capacity) * HashIndex.maximumLoad {
            if windows != nil { overflowed = true } else { try grow() }
        }
    }

    /// Calls `body` with the hash and location word of every key whose record is a put (in the
    /// file: not while windows are being built).
    func forEachPut(_ body: (_ hash: UInt64, _ word: UInt64) -> Void) {
        let table = index.table
        for slot in 0..<table.capacity {
            let h = table.hash(at: slot)
            guard h > HashIndex.tombstoneHash else { continue }
            let word = table.locationWord(at: slot)
            if !Self.isMark(word) { body(h, word) }
        }
    }

    /// Whether the record at location `word` is the put its key (hashing to `hash`) ended with.
    func holdsPut(hash: UInt64, word: UInt64) -> Bool {
        guard !Self.isMark(word) else { return false }
        return index.table.probe(hash: hash) { (_, existing) -> Bool? in existing == word ? true : nil } ?? false
    }

    /// Removes the table's file (its mapping stays valid until the table goes).
    func discard() {
        _ = try? Sys.unlink(path)
    }

    /// Twice the slots, in a new file renamed over the old one (the old mapping goes with it).
    private mutating func grow() throws(KVError) {
        index = try copy(capacity: index.capacity * 2, keepingMarks: true)
        slots = index.table
        limit = index.capacity
        growths += 1
    }

    /// Copies the occupied slots (with or without marks) into a new file at ``path``.
    private func copy(capacity: Int, keepingMarks: Bool) throws(KVError) -> HashIndex {
        // Ends in ".tmp": one left by a crash is removed by the next open, like `index.tmp`.
        let temporary = path + ".copy" + FileNames.temporarySuffix
        let copy = try Self.create(path: temporary, capacity: capacity, storeID: storeID, hashSeed: hashSeed,
                                   generation: generation, bootID: bootID)
        let from = index.table, to = copy.table
        var copied = 0
        for slot in 0..<from.capacity {
            let h = from.hash(at: slot)
            guard h > HashIndex.tombstoneHash else { continue }
            let word = from.locationWord(at: slot)
            if !keepingMarks && Self.isMark(word) { continue }
            var target = to.firstSlot(for: h)
            while to.hash(at: target) != HashIndex.emptyHash {
                target &+= 1
                if target == to.capacity { target = 0 }
            }
            to.slotWord(target, 1).pointee.store(word.littleEndian, ordering: .relaxed)
            to.slotWord(target, 0).pointee.store(h.littleEndian, ordering: .relaxed)
            copied += 1
        }
        assert(copied == (keepingMarks ? occupied : live))
        do { try Sys.rename(temporary, path) } catch {
            _ = try? Sys.unlink(temporary)
            throw error.kvError("rename", path: path)
        }
        return copy
    }

    /// The finished index: live keys only, at least room for `expectedKeys`, counts set.
    mutating func finish(expectedKeys: Int) throws(KVError) -> HashIndex {
        keys.release()
        let wanted = HashIndex.capacity(forLiveKeys: max(live, expectedKeys))
        if marks > 0 || index.capacity > wanted + wanted / 4 {
            index = try copy(capacity: wanted, keepingMarks: false)
        }
        index.setCounts(live: live, tombstones: 0)
        return index
    }
}

/// Keys of records in the segments, read through read-only mappings made on first use: what the
/// rebuild compares a key against when a slot's hash matches (an overwrite, or a true collision).
/// Mapped, not read: a comparison costs a memory access instead of a system call, and the pages
/// are the page cache's, not the process's.
struct SegmentKeys {
    /// By segment id minus ``first``: an array, since a comparison looks one up per overwrite.
    private let files: [SegmentFile?]
    private var maps: [ReadOnlyMap?]
    private let first: UInt32

    init(_ segments: [SegmentFile]) {
        first = segments.map(\.id).min() ?? 0
        let count = Int((segments.map(\.id).max() ?? first) - first) + 1
        var files = [SegmentFile?](repeating: nil, count: segments.isEmpty ? 0 : count)
        for segment in segments { files[Int(segment.id - first)] = segment }
        self.files = files
        self.maps = [ReadOnlyMap?](repeating: nil, count: files.count)
    }

    /// Prefetches the record at `offset` of segment `segmentID` (mapping the segment on first use).
    @inline(__always) mutating func prefetch(segmentID: UInt32, offset: Int) {
        guard let map = map(segmentID), offset >= 0, offset < map.length else { return }
        kv_prefetch(map.base + offset)
    }

    @inline(__always) private mutating func map(_ segmentID: UInt32) -> ReadOnlyMap? {
        guard segmentID >= first, Int(segmentID - first) < files.count else { return nil }
        let i = Int(segmentID - first)
        if let known = maps[i] { return known }
        guard let file = files[i], let made = ReadOnlyMap(path: file.path) else { return nil }
        maps[i] = made
        return made
    }

    /// Whether the record at `offset` of segment `segmentID` has exactly `key` (false when it cannot
    /// be read: out of bounds, or a segment that cannot be mapped).
    @inline(__always)
    mutating func keyMatches(_ key: UnsafeRawBufferPointer, segmentID: UInt32, offset: Int) -> Bool {
        guard let map = map(segmentID) else { return false }
        // Bytes from disk never trap: the offset came from a hint file or a scan of this segment.
        guard offset >= 0, offset <= map.length - RecordHeader.size - key.count else { return false }
        let record = map.base + offset
        guard Int(record.loadLE(UInt32.self, at: 16)) == key.count else { return false }
        return memcmp(record + RecordHeader.size, key.baseAddress!, key.count) == 0
    }

    mutating func release() { maps = [] }
}

/// A whole file mapped read-only, its descriptor closed at once (the mapping keeps the file).
final class ReadOnlyMap {
    let base: UnsafeRawPointer
    let length: Int
    let path: String

    /// `nil` when the file cannot be opened, is empty, or cannot be mapped.
    init?(path: String) {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return nil }
        defer { Sys.close(fd) }
        guard let size = try? Int(Sys.fileSize(fd)), size > 0, let base = try? Sys.mapReadOnly(fd, length: size) else { return nil }
        self.base = base
        self.length = size
        self.path = path
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    deinit { Sys.unmap(UnsafeMutableRawPointer(mutating: base), length: length) }
}
