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

/// What a reader needs: the index, the segments it points into, and the descriptors open for
/// them. Immutable. A live reader whose index is a private rebuild also carries what it watches
/// to move over to the store's index (``IndexWatch``).
final class ReadView: Sendable {
    let index: HashIndex
    let segments: SegmentTable
    let descriptors: DescriptorTable
    let watch: IndexWatch?
    /// The replacement mark ``index`` carried when a live reader chose it: 0, unless its writer
    /// died between marking it and renaming a new index over it (then it is still the index). A
    /// mark other than this one means the reader must look again.
    let acceptedMark: UInt64
    /// The segments a get reads in place (``MappingManager``).
    let mappings: MappingTable
    /// The ``ViewBox`` stripe this copy belongs to: where a get counts its read (``ReadCounter``).
    let stripe: Int
    /// ``index``'s slots, probed without touching the shared index object (``SlotTable``).
    let slots: SlotTable

    init(index: HashIndex, segments: SegmentTable, descriptors: DescriptorTable = .empty, watch: IndexWatch? = nil,
         acceptedMark: UInt64 = 0, mappings: MappingTable = .empty, stripe: Int = 0) {
        self.index = index
        self.segments = segments
        self.descriptors = descriptors
        self.watch = watch
        self.acceptedMark = acceptedMark
        self.mappings = mappings
        self.stripe = stripe
        self.slots = index.table
    }

    /// The same view as a new object for `stripe`: each stripe of a ``ViewBox`` holds its own, so
    /// its own reference count.
    func copy(stripe: Int = 0) -> ReadView {
        ReadView(index: index, segments: segments, descriptors: descriptors, watch: watch, acceptedMark: acceptedMark,
                 mappings: mappings, stripe: stripe)
    }

    /// This view with other mappings.
    func with(mappings: MappingTable) -> ReadView {
        ReadView(index: index, segments: segments, descriptors: descriptors, watch: watch, acceptedMark: acceptedMark,
                 mappings: mappings, stripe: stripe)
    }
}

/// Holds the current ``ReadView``, striped by thread.
///
/// A reader takes the view of its stripe: one uncontended lock and one retain, both on memory no
/// other thread touches unless it hashes to the same stripe. With a single shared lock and shared
/// reference counts, every get on every thread would write the same cache lines, and two reading
/// threads would spend more time passing those lines back and forth than reading. Locks are never
/// held across I/O, so readers never wait for the writer's disk work.
final class ViewBox: Sendable {
    static let stripeCount = 16

    /// One stripe: its own lock and its own copy of the view object (so its own reference count).
    private final class Stripe: Sendable {
        let view: Mutex<ReadView?>
        // Keeps stripes on separate cache lines: the object is allocated larger than two lines.
        private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                              UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        init(_ view: ReadView) { self.view = Mutex(view) }
    }

    private let stripes: [Stripe]
    /// What was published last. Three publishers, the writer (index and segments), the
    /// descriptor cache (descriptors) and the mapping manager (mappings), each change their part
    /// of it under this lock.
    private let latest: Mutex<ReadView?>

    init(_ view: ReadView) {
        stripes = (0..<Self.stripeCount).map { Stripe(view.copy(stripe: $0)) }
        latest = Mutex(view)
    }

    @inline(__always) private var stripe: Stripe {
        // pthread_self() is the thread's control block address: mix it, take the top bits.
        let id = UInt64(UInt(pthread_self()))
        return stripes[Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> 60) & (Self.stripeCount - 1)]
    }

    @inline(__always) func get() throws(KVError) -> ReadView {
        guard let view = stripe.view.withLock({ $0 }) else { throw KVError.closed() }
        return view
    }

    /// Publishes a new index and segment table (the writer), with the descriptors and mappings
    /// published last.
    func publish(_ view: ReadView) {
        change { current in
            ReadView(index: view.index, segments: view.segments, descriptors: current.descriptors, watch: view.watch,
                     acceptedMark: view.acceptedMark, mappings: current.mappings)
        }
    }

    /// Publishes the descriptors open now (the descriptor cache), with the rest published last.
    func publish(descriptors: DescriptorTable) {
        change { current in
            ReadView(index: current.index, segments: current.segments, descriptors: descriptors, watch: current.watch,
                     acceptedMark: current.acceptedMark, mappings: current.mappings)
        }
    }

    /// Publishes the mappings made now (the mapping manager), with the rest published last.
    func publish(mappings: MappingTable) {
        change { $0.with(mappings: mappings) }
    }

    /// One publisher's part of the view replaced, under the lock every publisher takes.
    private func change(_ next: (ReadView) -> ReadView) {
        latest.withLock { latest in
            guard let current = latest else { return }
            let view = next(current)
            latest = view
            spread(view)
        }
    }

    private func spread(_ view: ReadView) {
        for (i, stripe) in stripes.enumerated() {
            let copy = view.copy(stripe: i)
            stripe.view.withLock { $0 = copy }
        }
    }

    /// The view published last (a live reader's refresh starts from it).
    var newest: ReadView? { latest.withLock { $0 } }

    /// Drops the view so that every later call sees a closed store.
    func close() {
        latest.withLock { latest in
            latest = nil
            for stripe in stripes { stripe.view.withLock { $0 = nil } }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
