#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An open descriptor of a segment file, closed when the last reference to it goes away: a reader
/// that holds one can finish its `pread` even if the cache has dropped it meanwhile, and a number
/// is never reused under a reader's feet.
final class SegmentDescriptor: Sendable {
    let fd: Int32
    /// Set when a reader uses it; the cache's clock hand clears it (second chance).
    let referenced = Atomic<Bool>(true)

    init(fd: Int32) { self.fd = fd }

    @inline(__always) func touch() {
        // Store only when clear: a read of a shared line costs nothing, a write on every get would
        // bounce the line between the cores of the readers.
        if !referenced.load(ordering: .relaxed) { referenced.store(true, ordering: .relaxed) }
    }

    deinit { Sys.close(fd) }
}

/// A bounded set of open segment descriptors, shared by everything that reads segments (LevelDB's
/// table cache, `max_open_files`). A store of any number of segments opens and reads within
/// `limit` descriptors; a descriptor that is not cached is opened on demand and the least recently
/// used one (CLOCK) is closed.
///
/// Pinned descriptors stay open whatever the limit, and do not count against it: the active
/// segment's (it is mapped and written) and those of segments that may still hold unsynced writes.
/// A sync then never needs a descriptor it might not get: a failed `open` (EMFILE) would otherwise
/// look like a failed sync, which is final.
///
/// Readers look in their own stripe first (picked by thread, as ``ViewBox`` does), so that the
/// common get touches no lock another thread takes; the shared table is locked only on a miss.
final class DescriptorCache: Sendable {
    let limit: Int

    private struct Shared {
        var open: [UInt32: SegmentDescriptor] = [:]
        /// The clock: ids of `open`, in the order they came in.
        var ring: [UInt32] = []
        var hand = 0
        var pinned: [UInt32: SegmentDescriptor] = [:]
        var opens = 0
        var closes = 0
    }

    /// A stripe's own reference to a descriptor. Readers retain this (a line only their stripe
    /// writes), not the descriptor itself, whose reference count every stripe would share.
    private final class Entry: Sendable {
        let descriptor: SegmentDescriptor
        init(_ descriptor: SegmentDescriptor) { self.descriptor = descriptor }
    }

    private final class Stripe: Sendable {
        let descriptors = Mutex<[UInt32: Entry]>([:])
        // Keeps stripes on separate cache lines.
        private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    private static let stripeCount = 16
    private let shared = Mutex(Shared())
    private let stripes: [Stripe] = (0..<DescriptorCache.stripeCount).map { _ in Stripe() }

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

    @inline(__always) private var stripe: Stripe {
        let id = UInt64(UInt(pthread_self()))
        return stripes[Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> 60) & (Self.stripeCount - 1)]
    }

    /// Calls `body` with an open descriptor of `file`, opening it (read-only) if none is cached.
    /// The descriptor stays open until `body` returns, whatever the cache does meanwhile.
    @inline(__always)
    func withDescriptor<R, E: Error>(for file: SegmentFile, _ body: (Int32) throws(E) -> R) throws(KVError) -> Result<R, E> {
        let stripe = self.stripe
        let entry: Entry
        if let cached = stripe.descriptors.withLock({ $0[file.id] }) { entry = cached } else { entry = try miss(file, stripe: stripe) }
        entry.descriptor.touch()
        do { return .success(try body(entry.descriptor.fd)) } catch { return .failure(error) }
    }

    /// An open descriptor of `file`, for a caller that keeps it (a scan of the whole segment).
    func descriptor(for file: SegmentFile) throws(KVError) -> SegmentDescriptor {
        let stripe = self.stripe
        if let cached = stripe.descriptors.withLock({ $0[file.id] }) { return cached.descriptor }
        return try miss(file, stripe: stripe).descriptor
    }

    private func miss(_ file: SegmentFile, stripe: Stripe) throws(KVError) -> Entry {
        // Opened under the shared lock so that two misses of one file do not open it twice, and the
        // stripe is filled under it too: an eviction (which also holds it) then never races a
        // stripe being filled with the descriptor it is evicting.
        let result = shared.withLock { state -> Result<Entry, KVError> in
            if let known = state.pinned[file.id] ?? state.open[file.id] {
                let entry = Entry(known)
                stripe.descriptors.withLock { $0[file.id] = entry }
                return .success(entry)
            }
            let fd: Int32
            do throws(Errno) { fd = try Sys.open(file.path, O_RDONLY) } catch { return .failure(error.kvError("open", path: file.path)) }
            let descriptor = SegmentDescriptor(fd: fd)
            state.opens += 1
            while state.open.count >= limit { evictOne(&state) }
            state.open[file.id] = descriptor
            state.ring.append(file.id)
            let entry = Entry(descriptor)
            stripe.descriptors.withLock { $0[file.id] = entry }
            return .success(entry)
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
            state.closes += 1
            forgetInStripes(id)
            return
        }
    }

    private func forgetInStripes(_ id: UInt32) {
        for stripe in stripes { _ = stripe.descriptors.withLock { $0.removeValue(forKey: id) } }
    }

    /// Keeps `descriptor` open for segment `id` until ``unpin(_:)``: the writer's own descriptor of
    /// the segment it appends to, or one that a sync will need.
    func pin(_ descriptor: SegmentDescriptor, for id: UInt32) {
        shared.withLock { state in
            if state.open.removeValue(forKey: id) != nil { state.ring.removeAll { $0 == id } }
            state.pinned[id] = descriptor
            forgetInStripes(id)
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
        }
    }

    /// Closes what is cached for segments that were deleted (readers holding one finish with it).
    func drop(_ ids: Set<UInt32>) {
        shared.withLock { state in
            for id in ids {
                state.pinned[id] = nil
                if state.open.removeValue(forKey: id) != nil { state.closes += 1 }
                forgetInStripes(id)
            }
            state.ring.removeAll { ids.contains($0) }
        }
    }

    /// Descriptors open now (cached and pinned), and opens and closes since the store was opened.
    var counts: (open: Int, pinned: Int, opens: Int, closes: Int) {
        shared.withLock { ($0.open.count, $0.pinned.count, $0.opens, $0.closes) }
    }
}
