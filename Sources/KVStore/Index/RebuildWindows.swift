#if canImport(Glibc)
import Glibc
#endif

/// The slots of a rebuild's new index, built one window of consecutive slots at a time in private
/// memory and written to the index file once each, in file order.
///
/// Why not straight into the mapped file: at 100 M keys the new index is 3.1 GB, more than the
/// kernel lets stay dirty before it starts writing back (10 % of memory by default). Its pages were
/// then written back while the rebuild was still filling them at random, and every later write to a
/// page written back took a write fault to dirty it again: three quarters of a 310 s rebuild in the
/// kernel. Built in windows, each page is written once, sequentially, by `pwrite`, and the process
/// holds one window (8 bytes per key, at least 32 MiB) instead of the table.
///
/// A key's first slot grows with its hash (multiply-shift), so the keys of a window are those whose
/// hash falls in a range: the rebuild offers, window by window, the records whose first slot is in
/// the window. A probe that runs past the window's end goes on into ``spill`` slots that belong to
/// the next window and are carried into it; the last window's spill is the table's first slots
/// (probes wrap), kept from the first window and written again at the end. A probe that needs more
/// than that (a cluster of thousands of slots: only forced collisions make one) marks the windows
/// ``overflowed``, and the rebuild starts again in the mapped file, which has no such limit.
final class RebuildWindows {
    /// Slots of the whole table.
    let capacity: Int
    /// Windows, and slots per window (the last may have fewer).
    let count: Int
    let windowSlots: Int
    /// Slots a probe may run past the end of its window: 64 KiB. At the load a rebuild leaves
    /// (about half), a cluster that long does not happen without forced collisions.
    let spill: Int
    static let defaultSpill = 4096

    /// The window being built: slots `start ..< end`, then the spill.
    private(set) var current = -1
    private(set) var start = 0
    private(set) var end = 0

    private let buffer: UnsafeMutableRawPointer
    private let bufferLength: Int
    private let fd: Int32
    private let path: String
    /// Where the first window's first ``spill`` slots are kept for the last window to probe into.
    private var head: UnsafeMutableRawPointer { buffer + (windowSlots + spill) * HashIndex.slotSize }

    /// Windows of at most `windowBytes` for a table of `capacity` slots, written to `fd` (the new
    /// index file at `path`).
    init(capacity: Int, windowBytes: Int, spill: Int = defaultSpill, fd: Int32, path: String) throws(KVError) {
        let total = capacity * HashIndex.slotSize
        var count = max(1, (total + windowBytes - 1) / max(windowBytes, 1))
        // Every window holds more than a spill, so that a spill lands in the next window only.
        while count > 1 && capacity / count <= 2 * spill { count -= 1 }
        self.spill = spill
        self.capacity = capacity
        self.count = count
        self.windowSlots = (capacity + count - 1) / count
        self.fd = fd
        self.path = path
        bufferLength = (count == 1 ? capacity : windowSlots + 2 * spill) * HashIndex.slotSize
        do { buffer = try Sys.mapAnonymous(length: bufferLength) } catch {
            throw KVError(.resourceLimit, "cannot reserve \(bufferLength) bytes to rebuild the index in (\(error))", path: path)
        }
    }

    deinit { Sys.unmap(buffer, length: bufferLength) }

    /// Starts window `window`: its slots empty but for what the previous window spilled into them.
    /// Returns the slots to offer into (numbered as in the whole table) and the first slot number
    /// a probe must not reach (the end of the table, where a single window wraps to slot 0).
    func begin(_ window: Int) -> (slots: SlotTable, limit: Int) {
        precondition(window == current + 1 && window < count, "windows are built in order")
        let slotSize = HashIndex.slotSize
        current = window
        start = window * windowSlots
        end = min(capacity, start + windowSlots)
        if count == 1 {
            memset(buffer, 0, bufferLength)
            return (SlotTable(slots: buffer, capacity: capacity), capacity)
        }
        let length = end - start
        if window > 0 {
            // The previous window (always windowSlots long) left its spill after its slots.
            memmove(buffer, buffer + windowSlots * slotSize, spill * slotSize)
            memset(buffer + spill * slotSize, 0, windowSlots * slotSize)
        } else {
            memset(buffer, 0, (windowSlots + spill) * slotSize)
        }
        if window == count - 1 {
            // Past the table's end a probe wraps to slot 0: what the first window put there.
            memcpy(buffer + length * slotSize, head, spill * slotSize)
        }
        // Numbered as in the whole table: slot `start` is the buffer's first.
        return (SlotTable(slots: buffer - start * slotSize, capacity: capacity), end + spill)
    }

    /// Whether a key whose first slot is `slot` belongs to the current window.
    @inline(__always) func holds(firstSlot slot: Int) -> Bool { slot >= start && slot < end }

    /// Writes the current window's slots to the file; after the last, the table's first slots
    /// again, with what the last window's probes wrapped into them.
    func finishWindow() throws(KVError) {
        let slotSize = HashIndex.slotSize
        try write(buffer, slots: end - start, at: start)
        guard count > 1 else { return }
        if current == 0 { memcpy(head, buffer, spill * slotSize) }
        if current == count - 1 { try write(buffer + (end - start) * slotSize, slots: spill, at: 0) }
    }

    private func write(_ from: UnsafeRawPointer, slots: Int, at slot: Int) throws(KVError) {
        do {
            try Sys.pwrite(fd, from, slots * HashIndex.slotSize, Int64(IndexHeader.pageSize + slot * HashIndex.slotSize))
        } catch { throw error.kvError("pwrite", path: path) }
    }
}
