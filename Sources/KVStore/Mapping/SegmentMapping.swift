#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A read-only `MAP_SHARED` mapping of a sealed segment, made by the ``MappingManager`` when the
/// segment is hot enough to earn a place in the budget. Gets read its records in place: no system
/// call, no copy.
///
/// Safe only because a sealed segment never changes: it was truncated to its records before it
/// was sealed and nothing writes or truncates it again (FORMAT.md §8). Compaction deletes it with
/// `unlink`, which leaves the mapped pages valid until the mapping goes.
///
/// Unmapped when the last reference goes: readers' views hold one while they read, so nothing is
/// unmapped under a reader. The manager keeps a retired mapping until it is the only holder and
/// then lets go of it on its own thread, so a get never pays for an `munmap` (a TLB shootdown on
/// every core running the process).
final class SegmentMapping: @unchecked Sendable {
    // @unchecked: immutable after init; the mapped bytes are never written.
    let segmentID: UInt32
    let base: UnsafeRawPointer
    /// The file's size when it was mapped, which is the sealed segment's size for ever.
    let length: Int
    /// The segment's read counter: gets from the mapping count there (kept alive with it).
    let reads: ReadCounter
    private let onUnmap: @Sendable (Int) -> Void

    init(segmentID: UInt32, base: UnsafeRawPointer, length: Int, reads: ReadCounter, onUnmap: @escaping @Sendable (Int) -> Void) {
        self.segmentID = segmentID
        self.base = base
        self.length = length
        self.reads = reads
        self.onUnmap = onUnmap
    }

    /// Maps `file` whole, advised and prefaulted (see ``MappingManager/adviseAndPrefault(_:length:)``).
    static func map(_ file: SegmentFile, onUnmap: @escaping @Sendable (Int) -> Void) throws(KVError) -> SegmentMapping {
        let descriptor = try file.descriptors.descriptor(for: file)
        // The mapping outlives the descriptor: the cache may close it at any time afterwards.
        defer { withExtendedLifetime(descriptor) {} }
        let length: Int
        do { length = Int(try Sys.fileSize(descriptor.fd)) } catch { throw error.kvError("fstat", path: file.path) }
        guard length > SegmentHeader.size else {
            throw KVError(.invalidArgument, "segment \(file.id) holds no records to map", path: file.path)
        }
        let base: UnsafeRawPointer
        do { base = try Sys.mapReadOnly(descriptor.fd, length: length) } catch { throw error.kvError("mmap", path: file.path) }
        MappingManager.adviseAndPrefault(base, length: length)
        return SegmentMapping(segmentID: file.id, base: base, length: length, reads: file.reads, onUnmap: onUnmap)
    }

    /// Bytes of address space the mapping takes: whole pages.
    var mappedBytes: Int { (length + 4095) & ~4095 }

    deinit {
        Sys.unmap(UnsafeMutableRawPointer(mutating: base), length: length)
        onUnmap(mappedBytes)
    }
}

/// The active segment's mapping as readers in the writer's process see it: the writer's own
/// read-write mapping, and how far into it a reader may look.
///
/// `limit` is the mapping's capacity while the segment is written (the file is preallocated that
/// far, so any byte below it can be read) and becomes the segment's end just before the writer
/// truncates the file to it when it seals the segment. A reader checks every record against it,
/// so a damaged slot can never make it touch a page past the end of the file (SIGBUS).
final class ActiveRegion: Sendable {
    let segmentID: UInt32
    let mapping: MappedFile
    let reads: ReadCounter
    private let limit: Atomic<Int>

    init(segment: ActiveSegment) {
        self.segmentID = segment.id
        self.mapping = segment.mapping
        self.reads = segment.file.reads
        self.limit = Atomic(segment.mapping.length)
    }

    @inline(__always) var readableLength: Int { limit.load(ordering: .acquiring) }

    /// Called by the writer before it truncates the file to `end`.
    func seal(at end: Int) { limit.store(min(end, mapping.length), ordering: .releasing) }
}
