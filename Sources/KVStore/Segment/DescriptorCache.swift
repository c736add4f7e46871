#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An open descriptor of a segment file, closed when the last reference to it goes away: a reader
/// that holds one can finish its `pread` even if the cache has dropped it meanwhile, and a number
/// is never reused under a reader's feet.
final class SegmentDescriptor: Sendable {
    let fd: Int32
    /// Set when it is used through the cache; the clock hand clears it (second chance).
    let referenced = Atomic<Bool>(true)

    init(fd: Int32) { self.fd = fd }

    @inline(__always) func touch() {
        if !referenced.load(ordering: .relaxed) { referenced.store(true, ordering: .relaxed) }
    }

    deinit { Sys.close(fd) }
}

/// The descriptors open at one moment, by segment id. Immutable: readers find theirs in the
/// ``ReadView`` they already hold, without a lock or a hash, and without touching the descriptor
/// object (its reference count and its use bit would be written by every reading core): the
/// numbers are kept beside the objects, which keep them open while the table lives.
struct DescriptorTable: Sendable {
    private let base: UInt32
    private let fds: [Int32]
    private let descriptors: [SegmentDescriptor?]

    static let empty = DescriptorTable(base: 0, fds: [], descriptors: [])

    private init(base: UInt32, fds: [Int32], descriptors: [SegmentDescriptor?]) {
        self.base = base
        self.fds = fds
        self.descriptors = descriptors
    }

    init(_ open: [UInt32: SegmentDescriptor]) {
        guard let low = open.keys.min(), let high = open.keys.max() else { self = .empty; return }
        var fds = [Int32](repeating: -1, count: Int(high - low) + 1)
        var descriptors = [SegmentDescriptor?](repeating: nil, count: fds.count)
        for (id, descriptor) in open {
            fds[Int(id - low)] = descriptor.fd
            descriptors[Int(id - low)] = descriptor
        }
        self.init(base: low, fds: fds, descriptors: descriptors)
    }

    /// The open descriptor number of segment `id`, valid while this table is held; -1 for none.
    @inline(__always) func fd(_ id: UInt32) -> Int32 {
        guard id >= base else { return -1 }
        let i = Int(id &- base)
        return i < fds.count ? fds[i] : -1
    }
}

/// A bounded set of open segment descriptors, shared by everything that reads segments (LevelDB's
/// table cache, `max_open_files`). A store of any number of segments opens and reads within
/// `limit` descriptors; a descriptor that is not cached is opened on demand and an old one is
/// closed: the oldest opened, with a second chance (CLOCK) for those used through this cache since
/// the hand last passed (scans, the writer's key checks). Gets, which find their descriptor in
/// their view, do not mark it: a mark would be a write to a line that every reading core shares,
/// on every get, and with the working set within the limit nothing is ever evicted anyway.
///
/// Pinned descriptors stay open whatever the limit, and do not count against it: the active
/// segment's (it is mapped and written) and those of segments that may still hold unsynced writes.
/// A sync then never needs a descriptor it might not get: a failed `open` (EMFILE) would otherwise
/// look like a failed sync, which is final.
///
/// Every change is published as a ``DescriptorTable`` into the readers' views (``onChange``), so
/// that a get finds its descriptor in the view it holds; only a miss takes this cache's lock.
/// A descriptor the cache closes stays open until the last view that lists it is let go.
final class DescriptorCache: Sendable {
    let limit: Int

    private struct Shared {
        var open: [UInt32: SegmentDescriptor] = [:]
        /// The clock: ids of `open`, in the order they came in.
        var ring: [UInt32] = []
        var hand = 0
        var pinned: [UInt32: SegmentDescriptor] = [:]
        /// Set by ``closeAll()``: the store is closed and opens nothing more.
        var closed = false
        var onChange: (@Sendable (DescriptorTable) -> Void)? = nil

        func publish() {
            guard let onChange else { return }
            onChange(DescriptorTable(open.merging(pinned) { _, pinned in pinned }))
        }
    }

    private let shared = Mutex(Shared())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The default limit: a quarter of the process's descriptor limit (the rest is the
    /// application's), between 16 and 1,000.
    static func defaultLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_000 }
        return min(1_000, max(16, Int(min(limit.rlim_cur, 4_000) / 4)))
    }

    /// Where every change goes (the store's ``ViewBox``), starting with the table as it is now.
    func setOnChange(_ action: @escaping @Sendable (DescriptorTable) -> Void) {
        shared.withLock { state in
            state.onChange = action
            state.publish()
        }
    }

    /// An open descriptor of `file`, opening it (read-only) if none is cached.
    func descriptor(for file: SegmentFile) throws(KVError) -> SegmentDescriptor {
        let result = shared.withLock { state -> Result<SegmentDescriptor, KVError> in
            if let known = state.pinned[file.id] ?? state.open[file.id] {
                known.touch()
                return .success(known)
            }
            // A descriptor opened after close would stay open for as long as the engine lives.
            guard !state.closed else { return .failure(KVError.closed()) }
            let fd: Int32
            do throws(Errno) { fd = try Sys.open(file.path, O_RDONLY) } catch { return .failure(error.kvError("open", path: file.path)) }
            let descriptor = SegmentDescriptor(fd: fd)
            while state.open.count >= limit { evictOne(&state) }
            state.open[file.id] = descriptor
            state.ring.append(file.id)
            state.publish()
            return .success(descriptor)
        }
        return try result.get()
    }

    /// Second chance: skip (and clear) referenced descriptors, close the first one that is not.
    private func evictOne(_ state: inout Shared) {
        while !state.ring.isEmpty {
            if state.hand >= state.ring.count { state.hand = 0 }
            let id = state.ring[state.hand]
            guard let descriptor = state.open[id] else {
                state.ring.remove(at: state.hand)
                continue
            }
            if descriptor.referenced.load(ordering: .relaxed) {
                descriptor.referenced.store(false, ordering: .relaxed)
                state.hand += 1
                continue
            }
            state.ring.remove(at: state.hand)
            state.open[id] = nil
            return
        }
    }

    /// Keeps `descriptor` open for segment `id` until ``unpin(_:)``: the writer's own descriptor of
    /// the segment it appends to, or one that a sync will need.
    func pin(_ descriptor: SegmentDescriptor, for id: UInt32) {
        shared.withLock { state in
            if state.open.removeValue(forKey: id) != nil { state.ring.removeAll { $0 == id } }
            state.pinned[id] = descriptor
            state.publish()
        }
    }

    /// Pins the descriptor the cache has (or opens) for `file`.
    func pin(_ file: SegmentFile) throws(KVError) {
        pin(try descriptor(for: file), for: file.id)
    }

    /// Lets the pinned descriptor of `id` be closed like any other (it stays cached for now).
    func unpin(_ id: UInt32) {
        shared.withLock { state in
            guard let descriptor = state.pinned.removeValue(forKey: id) else { return }
            while state.open.count >= limit { evictOne(&state) }
            state.open[id] = descriptor
            state.ring.append(id)
            state.publish()
        }
    }

    /// Closes what is cached for segments that were deleted (readers holding one finish with it).
    func drop(_ ids: Set<UInt32>) {
        shared.withLock { state in
            for id in ids {
                state.pinned[id] = nil
                state.open[id] = nil
            }
            state.ring.removeAll { ids.contains($0) }
            state.publish()
        }
    }

    /// Lets go of every descriptor and stops publishing (the store closed): each closes when the
    /// last reader or view holding it is done.
    func closeAll() {
        shared.withLock { state in
            state.onChange = nil
            state.closed = true
            state.open = [:]
            state.pinned = [:]
            state.ring = []
        }
    }
}
