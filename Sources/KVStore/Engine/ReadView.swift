import Synchronization

/// The segment files of a store by id. Immutable: the writer publishes a new table when it adds
/// or removes a segment, and readers keep the one they picked up until their read is done.
final class SegmentTable: Sendable {
    let baseID: UInt32
    private let files: [SegmentFile?]

    init(_ files: [SegmentFile]) {
        let sorted = files.sorted { $0.id < $1.id }
        baseID = sorted.first?.id ?? 0
        var slots = [SegmentFile?](repeating: nil, count: Int((sorted.last?.id ?? baseID) - baseID) + (sorted.isEmpty ? 0 : 1))
        for file in sorted { slots[Int(file.id - baseID)] = file }
        self.files = slots
    }

    @inline(__always) func file(_ id: UInt32) -> SegmentFile? {
        guard id >= baseID else { return nil }
        let i = Int(id - baseID)
        return i < files.count ? files[i] : nil
    }

    /// Every file, oldest first.
    var all: [SegmentFile] { files.compactMap { $0 } }

    func adding(_ file: SegmentFile) -> SegmentTable { SegmentTable(all + [file]) }
    func removing(_ ids: Set<UInt32>) -> SegmentTable { SegmentTable(all.filter { !ids.contains($0.id) }) }
}

/// What a reader needs: the index and the segments it points into.
struct ReadView: Sendable {
    let index: HashIndex
    let segments: SegmentTable
}

/// Holds the current ``ReadView``. Taking it costs one uncontended lock and two retains; the
/// lock is never held across I/O, so readers never wait for the writer's disk work.
final class ViewBox: Sendable {
    private let current: Mutex<ReadView?>

    init(_ view: ReadView) { current = Mutex(view) }

    @inline(__always) func get() throws(KVError) -> ReadView {
        guard let view = current.withLock({ $0 }) else { throw KVError.closed() }
        return view
    }

    func publish(_ view: ReadView) { current.withLock { $0 = view } }

    /// Drops the view so that every later call sees a closed store.
    func close() { current.withLock { $0 = nil } }
}
