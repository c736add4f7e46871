/// The tombstones in the log, by key: how compaction confirms that a record the index does not
/// point at was removed, and was not lost by a damaged index (FORMAT.md §7).
///
/// The index is a cache of the log. A slot that decayed at rest makes a live record look dead to
/// anyone who asks only the index, and deleting its segment would turn recoverable damage (delete
/// the index, reopen) into loss. So a record counts as dead only when the index points its key at
/// a newer record, or when this log holds a newer tombstone for it. It is read only when a record
/// is found unindexed, from the hint files (sealed segments) and by scanning (the rest).
///
/// Tombstones are kept by key hash only (the newest sequence per hash): 16 bytes each instead of
/// a key, so a delete-heavy store's log fits. Like the index's own "a slot with this hash points
/// further along" rule, this errs only for a key that lost its slot to damage *and* shares its
/// 64-bit hash with a removed key.
struct TombstoneLog {
    private var newest: [UInt64: UInt64] = [:]
    /// Every record before this position has been read.
    private(set) var readUpTo: LogPosition
    private let hasher: KeyHasher

    /// Reads the tombstones of every segment in `segments` up to `end` (the writer's position when
    /// the table was taken). Runs outside the writer's lock: all of it but the active segment's
    /// records is immutable.
    init(segments: SegmentTable, end: LogPosition, directory: String, storeID: UInt64, hasher: KeyHasher) throws(KVError) {
        self.hasher = hasher
        readUpTo = LogPosition(segmentID: segments.all.first?.id ?? end.segmentID, offset: SegmentHeader.size)
        for file in segments.all where file.id < end.segmentID {
            if let hint = HintFile.load(directory: directory, segmentID: file.id, storeID: storeID) {
                hint.bytes.withUnsafeBytes { bytes in
                    for entry in hint.entries where entry.kind == .delete {
                        add(UnsafeRawBufferPointer(rebasing: bytes[entry.keyStart ..< entry.keyStart + entry.keyLength]), entry.sequence)
                    }
                }
            } else {
                try scan(file, from: SegmentHeader.size, limit: nil)
            }
            readUpTo = LogPosition(segmentID: file.id + 1, offset: SegmentHeader.size)
        }
        try extend(segments: segments, to: end)
    }

    /// Reads what was written since: call with the writer's lock held, so that `end` is the log's end.
    mutating func extend(segments: SegmentTable, to end: LogPosition) throws(KVError) {
        for file in segments.all where file.id >= readUpTo.segmentID && file.id <= end.segmentID {
            let start = file.id == readUpTo.segmentID ? readUpTo.offset : SegmentHeader.size
            try scan(file, from: start, limit: file.id == end.segmentID ? end.offset : nil)
        }
        readUpTo = end
    }

    /// Whether the log holds a tombstone for `key` newer than `sequence`.
    func hasNewerTombstone(for key: UnsafeRawBufferPointer, than sequence: UInt64) -> Bool {
        (newest[hasher.hash(key)] ?? 0) > sequence
    }

    private mutating func add(_ key: UnsafeRawBufferPointer, _ sequence: UInt64) {
        let hash = hasher.hash(key)
        if (newest[hash] ?? 0) < sequence { newest[hash] = sequence }
    }

    /// Past damage nothing more is read: fewer tombstones only make compaction keep more.
    private mutating func scan(_ file: SegmentFile, from start: Int, limit: Int?) throws(KVError) {
        var reader = try LogReader(file: file, role: limit.map { .active(end: $0) } ?? .sealed(hinted: true),
                                   purpose: .inspect(resynchronize: false), from: start)
        while case .record(let r) = try reader.next() {
            if r.header.kind == .delete { add(r.key, r.header.sequence) }
        }
    }
}
