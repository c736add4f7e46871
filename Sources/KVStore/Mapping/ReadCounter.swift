import Synchronization

/// How many gets a segment served, counted per stripe of reading threads (the stripes of
/// ``ViewBox``), so that two threads reading the same segment never write the same cache line.
/// The ``MappingManager`` adds the stripes up in the background.
///
/// A count is a relaxed load and store, not an atomic add: no locked instruction on the get path.
/// Two threads that share a stripe may lose an increment between them now and then, which a
/// measure of heat can afford.
final class ReadCounter: @unchecked Sendable {
    // @unchecked: the memory is only ever accessed through atomics.
    static let stripes = ViewBox.stripeCount
    private static let lineBytes = 64
    private let slots: UnsafeMutableRawPointer

    init() {
        slots = .allocate(byteCount: Self.stripes * Self.lineBytes, alignment: Self.lineBytes)
        slots.initializeMemory(as: UInt8.self, repeating: 0, count: Self.stripes * Self.lineBytes)
    }

    deinit { slots.deallocate() }

    @inline(__always) private func slot(_ stripe: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        Self.slot(slots, stripe)
    }

    @inline(__always) private static func slot(_ base: UnsafeMutableRawPointer, _ stripe: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + (stripe & (stripes - 1)) * lineBytes).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always) func count(stripe: Int) { Self.count(at: slots, stripe: stripe) }

    /// The counters' memory, for a ``MappingTable`` to count through without touching this object
    /// (its reference count is shared by every reading core). Valid while the counter lives.
    var base: UnsafeMutableRawPointer { slots }

    @inline(__always) static func count(at base: UnsafeMutableRawPointer, stripe: Int) {
        let counter = slot(base, stripe)
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    /// Every stripe's count added up: gets since the segment was opened.
    var total: UInt64 {
        var sum: UInt64 = 0
        for stripe in 0..<Self.stripes { sum &+= slot(stripe).pointee.load(ordering: .relaxed) }
        return sum
    }
}
