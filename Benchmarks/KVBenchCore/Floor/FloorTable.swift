#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where a record lives: its file offset (40 bits) and length (24 bits) in one word, so an update is one store.
enum FloorLocation {
    /// Marks a removed key: the slot keeps its hash so probing continues past it.
    static let removed: UInt64 = .max
    /// Records must be shorter than this.
    static let maximumLength = 1 << 24

    @inline(__always) static func pack(offset: Int64, length: Int) -> UInt64 {
        UInt64(offset) << 24 | UInt64(length)
    }
    @inline(__always) static func offset(_ location: UInt64) -> Int64 { Int64(location >> 24) }
    @inline(__always) static func length(_ location: UInt64) -> Int { Int(location & 0xFF_FFFF) }
}

/// The floor's in-memory open-addressing table: 16-byte slots (64-bit key hash, location), linear probing,
/// capacity a power of two ≥ 2 × the expected keys (load ≤ 0.5).
///
/// Readers probe without a lock: a slot is published by storing its location, then its hash with release order;
/// an update swaps the location word. One writer at a time (the floor's writer lock) inserts, removes and grows;
/// growing publishes a new table and keeps the old one alive until close, since readers may still be probing it.
/// A put whose 64-bit hash matches a slot is taken as the same key (a collision needs ~2³² keys to be likely); gets
/// compare the key stored in the record.
final class FloorTable: @unchecked Sendable {
    // @unchecked: `storages`, `count` and `used` are touched only under the floor's writer lock; readers use only
    // the atomic `current` and the atomic slot words.
    private let current: Atomic<Int>
    private var storages: [FloorTableStorage]
    /// Live keys (writer lock).
    private(set) var count = 0
    /// Occupied slots, removed ones included (writer lock).
    private var used = 0

    /// A table with room for `keys` keys at load ≤ 0.5.
    init(capacityFor keys: Int) {
        var capacity = 1024
        while capacity < 2 * keys { capacity <<= 1 }
        let storage = FloorTableStorage(capacity: capacity)
        storages = [storage]
        current = Atomic(Int(bitPattern: storage.raw))
    }

    /// Slots in the current table.
    var capacity: Int { storages[storages.count - 1].capacity }

    /// The location stored for `hash`, or nil (absent or removed). Lock-free.
    @inline(__always)
    func find(_ hash: UInt64) -> UInt64? {
        let raw = UnsafeMutableRawPointer(bitPattern: current.load(ordering: .acquiring))!
        let mask = raw.load(as: Int.self)
        let slots = FloorTableStorage.slots(raw)
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let h = (slots + (2 &* i)).pointee.load(ordering: .acquiring)
            if h == hash {
                let location = (slots + (2 &* i &+ 1)).pointee.load(ordering: .relaxed)
                return location == FloorLocation.removed ? nil : location
            }
            if h == 0 { return nil }
            i = (i &+ 1) & mask
        }
    }

    /// Inserts or updates `hash` → `location`. Writer lock held.
    func upsert(_ hash: UInt64, _ location: UInt64) {
        if (used + 1) * 2 > capacity { grow() }
        let storage = storages[storages.count - 1]
        let slots = FloorTableStorage.slots(storage.raw)
        var i = Int(truncatingIfNeeded: hash) & storage.mask
        while true {
            let h = (slots + 2 * i).pointee.load(ordering: .relaxed)
            if h == hash {
                let old = (slots + 2 * i + 1).pointee.exchange(location, ordering: .releasing)
                if old == FloorLocation.removed { count += 1 }
                return
            }
            if h == 0 {
                (slots + 2 * i + 1).pointee.store(location, ordering: .relaxed)
                (slots + 2 * i).pointee.store(hash, ordering: .releasing)
                count += 1
                used += 1
                return
            }
            i = (i + 1) & storage.mask
        }
    }

    /// Marks `hash` removed; returns whether it was present. Writer lock held.
    func remove(_ hash: UInt64) -> Bool {
        let storage = storages[storages.count - 1]
        let slots = FloorTableStorage.slots(storage.raw)
        var i = Int(truncatingIfNeeded: hash) & storage.mask
        while true {
            let h = (slots + 2 * i).pointee.load(ordering: .relaxed)
            if h == 0 { return false }
            if h == hash {
                let old = (slots + 2 * i + 1).pointee.exchange(FloorLocation.removed, ordering: .releasing)
                if old == FloorLocation.removed { return false }
                count -= 1
                return true
            }
            i = (i + 1) & storage.mask
        }
    }

    /// Doubles the table (dropping removed slots) and publishes it. Writer lock held.
    private func grow() {
        let old = storages[storages.count - 1]
        let bigger = FloorTableStorage(capacity: old.capacity * 2)
        let from = FloorTableStorage.slots(old.raw), to = FloorTableStorage.slots(bigger.raw)
        var live = 0
        for i in 0..<old.capacity {
            let h = (from + 2 * i).pointee.load(ordering: .relaxed)
            let location = (from + 2 * i + 1).pointee.load(ordering: .relaxed)
            guard h != 0, location != FloorLocation.removed else { continue }
            var j = Int(truncatingIfNeeded: h) & bigger.mask
            while (to + 2 * j).pointee.load(ordering: .relaxed) != 0 { j = (j + 1) & bigger.mask }
            (to + 2 * j + 1).pointee.store(location, ordering: .relaxed)
            (to + 2 * j).pointee.store(h, ordering: .relaxed)
            live += 1
        }
        used = live
        storages.append(bigger)
        current.store(Int(bitPattern: bigger.raw), ordering: .releasing)
    }

    // MARK: Saving at close, loading at open

    private static let magic: UInt64 = 0x3158_4449_524F_4F4C   // "LOORIDX1"

    /// Writes the table to `path` (header: magic, capacity, count, used, log end; then the raw slots).
    func save(to path: String, logEnd: Int64) throws {
        let storage = storages[storages.count - 1]
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError.system("open", path) }
        defer { close(fd) }
        let header: [UInt64] = [Self.magic, UInt64(storage.capacity), UInt64(count), UInt64(used), UInt64(logEnd)]
        try header.withUnsafeBytes { try FloorIO.writeAll(fd, $0.baseAddress!, $0.count, at: 0, path: path) }
        try FloorIO.writeAll(fd, UnsafeRawPointer(FloorTableStorage.slots(storage.raw)), storage.capacity * 16,
                             at: 40, path: path)
    }

    /// Loads a table saved by `save` when it matches a log of `logEnd` bytes; nil otherwise.
    static func load(from path: String, logEnd: Int64) -> FloorTable? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var header = [UInt64](repeating: 0, count: 5)
        let ok = header.withUnsafeMutableBytes { (try? FloorIO.readAll(fd, $0.baseAddress!, 40, at: 0, path: path)) != nil }
        guard ok, header[0] == magic, header[4] == UInt64(logEnd), header[1].nonzeroBitCount == 1 else { return nil }
        let table = FloorTable(capacityFor: 0)
        let storage = FloorTableStorage(capacity: Int(header[1]))
        guard (try? FloorIO.readAll(fd, UnsafeMutableRawPointer(FloorTableStorage.slots(storage.raw)),
                                    storage.capacity * 16, at: 40, path: path)) != nil else { return nil }
        table.storages = [storage]
        table.count = Int(header[2])
        table.used = Int(header[3])
        table.current.store(Int(bitPattern: storage.raw), ordering: .releasing)
        return table
    }
}

/// One table allocation: a 64-byte header whose first word is the mask, then `capacity` slots of two atomic words.
/// `calloc` gets fresh zero pages from the kernel, so an unused part of a large table costs nothing.
final class FloorTableStorage: @unchecked Sendable {
    // @unchecked: immutable after init except for the atomic slot words.
    let raw: UnsafeMutableRawPointer
    let capacity: Int
    var mask: Int { capacity - 1 }

    init(capacity: Int) {
        self.capacity = capacity
        raw = calloc(1, 64 + capacity * 16)!
        raw.storeBytes(of: capacity - 1, as: Int.self)
    }

    @inline(__always)
    static func slots(_ raw: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (raw + 64).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    deinit { free(raw) }
}
