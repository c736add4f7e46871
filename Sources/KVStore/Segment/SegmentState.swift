import Synchronization

/// Where a segment is in its life (FORMAT.md §6.1). States only move forward; each move is made by
/// one owner: the writer (active → sealed), the sealer (sealed → durable → hinted), compaction
/// (hinted → retired). Recovery sets the state each file's bytes and hint file show.
///
/// ```
///   active ──roll──▶ sealed ──sync──▶ durable ──hint written──▶ hinted ──compacted──▶ retired
/// ```
/// Compaction works only on hinted segments, and claims one while it copies from it
/// (``SegmentFile/claimForCompaction()``); a segment it does not delete is released, still hinted.
enum SegmentState: UInt8, Comparable, Sendable, CustomStringConvertible {
    /// Appended to by the writer; mapped; preallocated past its records.
    case active = 1
    /// Full and truncated to its records, but maybe only in the page cache.
    case sealed = 2
    /// Synced, with every older segment: a power loss cannot take it back.
    case durable = 3
    /// Its hint file is written: a rebuild reads that instead of the segment, and compaction may
    /// take it.
    case hinted = 4
    /// Compacted away: out of the readers' table, its files deleted.
    case retired = 5

    static func < (a: SegmentState, b: SegmentState) -> Bool { a.rawValue < b.rawValue }

    var description: String {
        switch self {
        case .active: "active"
        case .sealed: "sealed"
        case .durable: "durable"
        case .hinted: "hinted"
        case .retired: "retired"
        }
    }
}

/// A segment's state and compaction claim, kept on its ``SegmentFile`` (shared by every segment
/// table that lists it).
final class SegmentLifecycle: Sendable {
    private let value: Atomic<UInt8>
    private let claimed = Atomic<Bool>(false)

    init(_ state: SegmentState) { value = Atomic(state.rawValue) }

    var state: SegmentState { SegmentState(rawValue: value.load(ordering: .acquiring)) ?? .sealed }

    /// Sets the state recovery read from the disk, before the segment is shared with anyone.
    func recover(as state: SegmentState) { value.store(state.rawValue, ordering: .releasing) }

    /// Moves to `next`. Moving back is a bug: debug builds stop there, release builds keep the
    /// later state.
    func advance(to next: SegmentState) {
        var current = value.load(ordering: .relaxed)
        while current < next.rawValue {
            let (exchanged, original) = value.compareExchange(expected: current, desired: next.rawValue, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
        assert(current == next.rawValue, "segment state moved back from \(SegmentState(rawValue: current).map(String.init(describing:)) ?? "?") to \(next)")
    }

    /// Claims a hinted segment for compaction; `false` when it is not hinted or already claimed.
    func claimForCompaction() -> Bool {
        guard state == .hinted else { return false }
        return claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    /// Gives a claimed segment back (compaction kept it).
    func release() { claimed.store(false, ordering: .releasing) }
}
