#if canImport(Glibc)
import Glibc
#endif

/// Builds a fresh index from the log when the old one cannot be trusted (FORMAT.md §6), in memory
/// that does not grow with the history: see ``IndexRebuilder/rebuild(segments:path:generation:)``.
///
/// Sealed segments contribute their hint files (about 20 bytes + key per record, mapped); segments
/// without a valid hint are scanned. Keys are compared exactly and the newest record of a key
/// wins; only live keys go into the new file: no tombstones.
/// What bringing the index up to date with the log found, by replay or by rebuild: one result,
/// whichever path produced it.
struct RecoveredLog {
    var index: HashIndex
    /// Where the log ends: the end of the last valid record of the last segment read.
    var end: LogPosition
    var lastSequence: UInt64
    /// Where a torn tail (or a power loss's cut) starts in the segment the log ends in.
    var tornTail: Int?
    /// Damage found in sealed segments (their remaining records are not indexed).
    var problems: [KVError]
    /// Records a replay applied (0 for a rebuild).
    var replayedRecords: Int
    /// Segments after the point where a power loss cut the history; not indexed (FORMAT.md §6).
    var lost: [SegmentFile]
}

struct IndexRebuilder {
    let directory: String
    let storeID: UInt64
    let hashSeed: UInt64
    let hasher: KeyHasher
    let bootID: [UInt8]
    /// The index is made at least large enough for this many keys.
    var expectedKeys = 0
    /// Told after each segment, and every 2^20 records within a long one.
    var progress: (@Sendable (Store.RebuildProgress) -> Void)? = nil
    /// The most the rebuild keeps of the new table in private memory at once (see
    /// ``RebuildWindows``): `nil` for ``windowBytesPerKey`` per key, 0 to write into the mapped file.
    var windowBytes: Int? = nil
    var windowSpill = RebuildWindows.defaultSpill

    /// Where one segment's records come from: hint bytes (its hint file mapped, or what the first
    /// pass's scan of it made, kept while small), or a second scan of the segment.
    private enum Source {
        case hint(HintBytes, HintLayout.Header)
        /// The first `records` records of a scan (the later ones, if a writer added any since, are
        /// after the end the rebuild found).
        case scan(LogReader.Role, records: Int)
    }

    private struct Planned {
        var segment: SegmentFile
        var source: Source
        var records: Int
    }

    /// Rebuilds into a new index file at `path`.
    ///
    /// Two passes. The first, oldest segment first, decides where each segment's records come
    /// from and where the log ends: a hint file is checked whole (checksum and every entry) before
    /// it is trusted, and a segment without one is scanned, which is where a power loss's cut is
    /// found (the segments after it are not indexed). The second offers every record to a
    /// ``RebuildTable``, newest segment first, so that a key's newest record is its first: records
    /// are appended in sequence order and compaction copies forward with new numbers (FORMAT.md
    /// §7), so a later position is a newer record. Nothing is held per record or per key but the
    /// table's slots, which live in the mapped file.
    func rebuild(segments: [SegmentFile], path: String, generation: UInt64) throws(KVError) -> RecoveredLog {
        var plan: [Planned] = []
        var problems: [KVError] = []
        var tornTail: Int? = nil
        var end = LogPosition(segmentID: segments.last?.id ?? 1, offset: SegmentHeader.size)
        var lost: [SegmentFile] = []
        var distinct = DistinctKeyEstimate()
        var keptScanBytes = Self.keptScanBytes
        for (i, segment) in segments.enumerated() {
            let isLast = i == segments.count - 1
            if !isLast, let (map, header) = checkedHint(segmentID: segment.id, distinct: &distinct),
               (try? segment.size()).map({ header.dataEnd <= $0 }) == true {
                plan.append(Planned(segment: segment, source: .hint(.mapped(map), header), records: header.entryCount))
                continue
            }
            // A sealed segment without a hint may not have been synced yet: the reader takes an
            // early end there as the point where a power loss cut the history (FORMAT.md §6).
            let role: LogReader.Role = isLast ? .active(end: nil) : .sealed(hinted: false)
            let hasher = self.hasher
            let (bytes, records, stop) = try HintFile.scanBytes(segment, storeID: storeID, role: role,
                                                                purpose: .recover(afterPowerLoss: true)) { distinct.add(hasher.hash($0)) }
            if bytes.count <= keptScanBytes {
                // Kept for the second pass (the active segment, mostly): no second read and parse.
                keptScanBytes -= bytes.count
                let hint = HintBytes.scanned(bytes, path: segment.path)
                let header = try HintLayout.header(of: hint.bytes, path: segment.path, segmentID: segment.id, storeID: storeID)
                plan.append(Planned(segment: segment, source: .hint(hint, header), records: records))
            } else {
                plan.append(Planned(segment: segment, source: .scan(role, records: records), records: records))
            }
            switch stop {
            case .end(let offset) where isLast:
                end = LogPosition(segmentID: segment.id, offset: offset)
            case .end:
                continue
            case .tornTail(let offset, _):
                tornTail = offset
                end = LogPosition(segmentID: segment.id, offset: offset)
            case .cut(let offset, _):
                // Every later segment was never synced either (segments are synced oldest first).
                tornTail = offset
                end = LogPosition(segmentID: segment.id, offset: offset)
                lost = Array(segments[(i + 1)...])
                problems.append(.corruption(
                    "the log ends early in a segment that was not yet synced (power loss?); \(lost.count) later segment(s) set aside",
                    path: segment.path, offset: Int64(offset)))
            case .damage(let offset, let reason):
                problems.append(.corruption("\(reason); records after it are not indexed", path: segment.path, offset: Int64(offset)))
                if !isLast { continue }
                end = LogPosition(segmentID: segment.id, offset: offset)
            }
            break
        }

        // Sized for the keys estimated (a few percent more, for the estimate's error); it grows if
        // they were more, and ``RebuildTable/finish`` copies into the right size if far fewer.
        let records = plan.reduce(0) { $0 + $1.records }
        let estimated = min(records, distinct.estimate + distinct.estimate / 32, Self.largestInitialKeys)
        let initialKeys = max(expectedKeys, estimated)
        let capacity = HashIndex.capacity(forLiveKeys: initialKeys)
        // A table sized at the cap may have to grow, which a windowed build cannot: mapped then.
        let capped = estimated >= Self.largestInitialKeys && records > Self.largestInitialKeys
        let windowBytes = capped ? 0 : self.windowBytes ?? max(Self.smallestWindow, Self.windowBytesPerKey * initialKeys)
        var lastSequence: UInt64 = 0
        var table = try RebuildTable(path: path, capacity: capacity, storeID: storeID, hashSeed: hashSeed,
                                     generation: generation, bootID: bootID, segments: plan.map(\.segment),
                                     windowBytes: windowBytes > 0 ? windowBytes : nil, spill: windowSpill)
        try offerAll(plan, to: &table, records: records, problems: &problems, lastSequence: &lastSequence)
        if table.overflowed {
            // A cluster longer than a window's spill (forced collisions): again, in the mapped file.
            table.discard()
            problems = problems.filter { $0.message != Self.outOfOrder }
            table = try RebuildTable(path: path, capacity: capacity, storeID: storeID, hashSeed: hashSeed,
                                     generation: generation, bootID: bootID, segments: plan.map(\.segment))
            try offerAll(plan, to: &table, records: records, problems: &problems, lastSequence: &lastSequence)
        }
        let index = try table.finish(expectedKeys: expectedKeys)
        index.assertBuiltCorrectly("index rebuild")
        index.setCovered(end, sequence: lastSequence)
        return RecoveredLog(index: index, end: end, lastSequence: lastSequence, tornTail: tornTail, problems: problems,
                            replayedRecords: 0, lost: lost)
    }

    /// The second pass: every record offered to `table`, newest segment first, once per window of
    /// the table (each to the window that holds its key). Stops early if the table overflowed.
    private func offerAll(_ plan: [Planned], to table: inout RebuildTable, records: Int, problems: inout [KVError],
                          lastSequence: inout UInt64) throws(KVError) {
        var report = Store.RebuildProgress(segments: plan.count, records: records)
        report.passes = table.windowCount
        for window in 0 ..< table.windowCount {
            table.beginWindow(window)
            var done = 0
            var newerFirstSequence = UInt64.max
            report.segmentsRead = 0
            report.recordsRead = 0
            for planned in plan.reversed() {
                var sequences = SequenceRange()
                try Self.offerRecords(of: planned, hasher: hasher, to: &table, sequences: &sequences) { count, keys in
                    done += count
                    // Within a segment, a report per 2^20 records; its remainder is in the report
                    // after the segment, below.
                    if let progress, count == 1 << 20 {
                        report.recordsRead = done
                        report.keys = keys
                        progress(report)
                    }
                }
                if table.overflowed { return }
                // The order the rebuild relies on: every record of a segment is older than every
                // record of the segments after it. Never seen broken; reported if it ever is. Every
                // window reads every record: the first one checks.
                if window == 0 && sequences.count > 0 {
                    if !sequences.ascending || sequences.last >= newerFirstSequence {
                        problems.append(.corruption(Self.outOfOrder, path: planned.segment.path, offset: Int64(SegmentHeader.size)))
                    }
                    newerFirstSequence = sequences.first
                    lastSequence = max(lastSequence, sequences.maximum)
                }
                report.segmentsRead += 1
                report.recordsRead = done
                report.keys = table.live
                progress?(report)
            }
            try table.finishWindow()
            report.passesDone += 1
        }
    }

    private static let outOfOrder = "sequence numbers are out of log order; the later position was taken as the newer record"

    /// The rebuild's window of slots in private memory: 8 bytes per key expected, at least 32 MiB
    /// (a table of up to about a million keys is one window). Half the memory bound of a rebuild
    /// (16 bytes per key + 64 MiB), and 4 windows at 100 M keys, each read of the hints costing
    /// less than the write faults it saves.
    static let windowBytesPerKey = 8
    static let smallestWindow = 32 << 20

    /// What the first pass keeps of its scans for the second, at most (anonymous memory).
    static let keptScanBytes = 32 << 20

    /// At most this many keys' worth of slots before the rebuild knows how many keys there are
    /// (128 M keys: a 4 GiB file); beyond it the table grows as keys come.
    static let largestInitialKeys = 1 << 27

    /// The sequence numbers of one segment's records, as offered.
    private struct SequenceRange {
        var first: UInt64 = 0
        var last: UInt64 = 0
        var maximum: UInt64 = 0
        var count = 0
        var ascending = true

        @inline(__always) mutating func add(_ sequence: UInt64) {
            if count == 0 { first = sequence } else if sequence <= last { ascending = false }
            last = sequence
            maximum = max(maximum, sequence)
            count += 1
        }
    }

    /// How far apart the stages of the second pass's pipeline are, in records.
    private static let depth = 8

    private static func offerRecords(of planned: Planned, hasher: KeyHasher, to table: inout RebuildTable, sequences: inout SequenceRange,
                              read: (_ records: Int, _ keys: Int) -> Void) throws(KVError) {
        let segmentID = planned.segment.id
        switch planned.source {
        case .hint(let hint, let header):
            let raw = hint.bytes
            var count = 0, held = 0
            // A pipeline over the records the table's window holds, `depth` apart: hash a record
            // and prefetch its first slot; `depth` records later, peek at that slot and prefetch
            // the record it points at (the key an overwrite is compared with); `depth` later again,
            // offer it. The cache misses of 2 × depth records are in flight at once instead of one
            // after another.
            let depth = Self.depth, ring = 2 * depth
            try withUnsafeTemporaryAllocation(of: (HintLayout.Entry, UInt64).self, capacity: ring) { (pending) throws(KVError) in
                try HintLayout.forEachEntry(in: raw, header: header, path: hint.path) { (entry) throws(KVError) in
                    sequences.add(entry.sequence)
                    count += 1
                    if count & (1 << 20 - 1) == 0 { read(1 << 20, table.live) }
                    let hash = hasher.hash(UnsafeRawBufferPointer(rebasing: raw[entry.keyStart ..< entry.keyStart + entry.keyLength]))
                    guard table.holds(hash) else { return }
                    if held >= ring { try Self.offer(pending[held % ring], raw, segmentID, &table) }
                    table.prefetch(hash)
                    pending[held % ring] = (entry, hash)
                    if held >= depth { table.prefetchRecord(of: pending[(held - depth) % ring].1) }
                    held += 1
                }
                for i in max(0, held - ring) ..< held { try Self.offer(pending[i % ring], raw, segmentID, &table) }
            }
            read(count & (1 << 20 - 1), table.live)
        case .scan(let role, let records):
            var reader = try LogReader(file: planned.segment, role: role, purpose: .recover(afterPowerLoss: true))
            var count = 0
            while count < records {
                switch try reader.next() {
                case .record(let r):
                    sequences.add(r.header.sequence)
                    let hash = hasher.hash(r.key)
                    if table.holds(hash) {
                        try table.offer(hash: hash, key: r.key, segmentID: segmentID, offset: r.offset,
                                        length: r.header.length, isDelete: r.header.kind == .delete)
                    }
                    count += 1
                    if count & (1 << 20 - 1) == 0 { read(1 << 20, table.live) }
                case .skipped: continue
                case .stop: count = records
                }
            }
            read(count & (1 << 20 - 1), table.live)
        }
    }

    @inline(__always)
    private static func offer(_ pending: (HintLayout.Entry, UInt64), _ raw: UnsafeRawBufferPointer, _ segmentID: UInt32,
                              _ table: inout RebuildTable) throws(KVError) {
        let (entry, hash) = pending
        try table.offer(hash: hash, key: UnsafeRawBufferPointer(rebasing: raw[entry.keyStart ..< entry.keyStart + entry.keyLength]),
                        segmentID: segmentID, offset: entry.offset, length: entry.length, isDelete: entry.kind == .delete)
    }

    /// The hint file of `segmentID`, mapped, when it checks out whole: header, checksum and every
    /// entry (whose keys go into `distinct` meanwhile). `nil` when it is missing or does not.
    private func checkedHint(segmentID: UInt32, distinct: inout DistinctKeyEstimate) -> (ReadOnlyMap, HintLayout.Header)? {
        let path = directory + "/" + FileNames.hint(segmentID)
        guard let map = ReadOnlyMap(path: path),
              let header = try? HintLayout.header(of: map.bytes, path: path, segmentID: segmentID, storeID: storeID) else { return nil }
        let raw = map.bytes
        let hasher = self.hasher
        var seen = DistinctKeyEstimate()
        do {
            try HintLayout.forEachEntry(in: raw, header: header, path: path) { entry in
                seen.add(hasher.hash(UnsafeRawBufferPointer(rebasing: raw[entry.keyStart ..< entry.keyStart + entry.keyLength])))
            }
        } catch { return nil }
        distinct.merge(seen)
        return (map, header)
    }
}

/// Hint bytes the second pass reads: a hint file mapped, or the bytes a scan made.
private final class HintBytes {
    let path: String
    private let map: ReadOnlyMap?
    private let storage: UnsafeMutableRawBufferPointer?

    private init(path: String, map: ReadOnlyMap?, storage: UnsafeMutableRawBufferPointer?) {
        self.path = path
        self.map = map
        self.storage = storage
    }

    static func mapped(_ map: ReadOnlyMap) -> HintBytes { HintBytes(path: map.path, map: map, storage: nil) }

    static func scanned(_ bytes: [UInt8], path: String) -> HintBytes {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        storage.copyBytes(from: bytes)
        return HintBytes(path: path, map: nil, storage: storage)
    }

    var bytes: UnsafeRawBufferPointer { map?.bytes ?? UnsafeRawBufferPointer(storage!) }

    deinit { storage?.deallocate() }
}
