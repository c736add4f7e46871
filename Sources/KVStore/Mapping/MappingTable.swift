/// Bytes of a segment a get may read in place: where they are mapped, and how many.
struct MappedRegion {
    let start: UnsafeRawPointer
    let length: Int
    /// Where a get from it counts its read (``ReadCounter/count(at:stripe:)``).
    let counter: UnsafeMutableRawPointer
}

/// The segments mapped at one moment, by id: what a ``ReadView`` carries so that a get finds a
/// segment's mapping without a lock or a hash (like ``DescriptorTable``). Immutable; it holds the
/// mappings it lists, so a view that lists a mapping keeps it mapped until the view is let go.
struct MappingTable: Sendable {
    private struct Slot {
        /// The mapping's address as an integer (pointers are not `Sendable`); 0 for none.
        var start: UInt
        var length: Int
        var counter: UInt
    }

    private let base: UInt32
    private let slots: [Slot]
    /// Keep what `slots` points into mapped.
    private let owners: [SegmentMapping]
    /// The segment the writer appends to, read through the writer's own mapping.
    let active: ActiveRegion?

    static let empty = MappingTable(mappings: [], active: nil)

    init(mappings: [SegmentMapping], active: ActiveRegion?) {
        self.active = active
        owners = mappings
        guard let low = mappings.map(\.segmentID).min(), let high = mappings.map(\.segmentID).max() else {
            base = 0
            slots = []
            return
        }
        var slots = [Slot](repeating: Slot(start: 0, length: 0, counter: 0), count: Int(high - low) + 1)
        for mapping in mappings {
            slots[Int(mapping.segmentID - low)] = Slot(start: UInt(bitPattern: mapping.base), length: mapping.length,
                                                       counter: UInt(bitPattern: mapping.reads.base))
        }
        base = low
        self.slots = slots
    }

    /// The mapped bytes of segment `id`, or `nil` when it is read with `pread`.
    @inline(__always) func region(_ id: UInt32) -> MappedRegion? {
        if id >= base {
            let i = Int(id &- base)
            if i < slots.count {
                let slot = slots[i]
                if slot.start != 0 {
                    return MappedRegion(start: UnsafeRawPointer(bitPattern: slot.start)!, length: slot.length,
                                        counter: UnsafeMutableRawPointer(bitPattern: slot.counter)!)
                }
            }
        }
        if let active, active.segmentID == id {
            return MappedRegion(start: UnsafeRawPointer(active.mapping.base), length: active.readableLength, counter: active.reads.base)
        }
        return nil
    }

    var mappings: [SegmentMapping] { owners }
}
