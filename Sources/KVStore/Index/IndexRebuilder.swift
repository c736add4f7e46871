#if canImport(Glibc)
import Glibc
#endif

/// Builds a fresh index from the log when the old one cannot be trusted (FORMAT.md §6).
///
/// Sealed segments contribute their hint files (a few bytes per key, read sequentially); segments
/// without a valid hint are scanned. Keys are compared exactly — a temporary table keeps, per key,
/// where its bytes are in the hint data — and the newest sequence number wins, so the result does
/// not depend on the order segments are read in. Only live keys go into the new file: no tombstones.
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

    /// One segment's entries, as hint bytes (real or synthesized by scanning).
    private struct Source {
        var segmentID: UInt32
        var hint: HintFile
    }

    func rebuild(segments: [SegmentFile], path: String, generation: UInt64) throws(KVError) -> RecoveredLog {
        var sources: [Source] = []
        var problems: [KVError] = []
        var tornTail: Int? = nil
        var end = LogPosition(segmentID: segments.last?.id ?? 1, offset: SegmentHeader.size)
        var lost: [SegmentFile] = []
        for (i, segment) in segments.enumerated() {
            let isLast = i == segments.count - 1
            if !isLast, let hint = HintFile.load(directory: directory, segmentID: segment.id, storeID: storeID),
               (try? segment.size()).map({ hint.dataEnd <= $0 }) == true {
                sources.append(Source(segmentID: segment.id, hint: hint))
                continue
            }
            // A sealed segment without a hint may not have been synced yet: the reader takes an
            // early end there as the point where a power loss cut the history (FORMAT.md §6).
            let (hint, stop) = try HintFile.scan(segment, storeID: storeID, role: isLast ? .active(end: nil) : .sealed(hinted: false),
                                                 purpose: .recover(afterPowerLoss: true))
            sources.append(Source(segmentID: segment.id, hint: hint))
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

        // The temporary table: open addressing over parallel arrays, twice the entries.
        let total = sources.reduce(0) { $0 + $1.hint.entries.count }
        let capacity = max(16, total * 2)
        var hashes = [UInt64](repeating: 0, count: capacity)
        var locations = [UInt64](repeating: 0, count: capacity)
        var sequences = [UInt64](repeating: 0, count: capacity)
        var keySource = [Int32](repeating: 0, count: capacity)
        var keyEntry = [Int32](repeating: 0, count: capacity)
        var removed = [Bool](repeating: false, count: capacity)
        var lastSequence: UInt64 = 0

        for (s, source) in sources.enumerated() {
            source.hint.bytes.withUnsafeBytes { bytes in
                let base = bytes.baseAddress!
                for (e, entry) in source.hint.entries.enumerated() {
                    lastSequence = max(lastSequence, entry.sequence)
                    let key = UnsafeRawBufferPointer(start: base + entry.keyStart, count: entry.keyLength)
                    let hash = hasher.hash(key)
                    var slot = Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(capacity)).high)
                    while hashes[slot] != 0 {
                        if hashes[slot] == hash {
                            let other = sources[Int(keySource[slot])].hint
                            let otherEntry = other.entries[Int(keyEntry[slot])]
                            let same = other.bytes.withUnsafeBytes { o in
                                otherEntry.keyLength == key.count
                                    && memcmp(o.baseAddress! + otherEntry.keyStart, key.baseAddress!, key.count) == 0
                            }
                            if same { break }
                        }
                        slot += 1
                        if slot == capacity { slot = 0 }
                    }
                    if hashes[slot] != 0 && sequences[slot] > entry.sequence { continue }  // an older record
                    hashes[slot] = hash
                    locations[slot] = Location(segmentID: source.segmentID, offset: entry.offset, recordLength: entry.length).word
                    sequences[slot] = entry.sequence
                    keySource[slot] = Int32(s)
                    keyEntry[slot] = Int32(e)
                    removed[slot] = entry.kind == .delete
                }
            }
        }

        var live = 0
        for slot in 0..<capacity where hashes[slot] != 0 && !removed[slot] { live += 1 }
        let index = try HashIndex.create(path: path, capacity: HashIndex.capacity(forLiveKeys: max(live, expectedKeys)), storeID: storeID,
                                         hashSeed: hashSeed, generation: generation, bootID: bootID)
        for slot in 0..<capacity where hashes[slot] != 0 && !removed[slot] {
            try index.insertSlot(hash: hashes[slot], location: locations[slot])
        }
        index.setCounts(live: live, tombstones: 0)
        index.assertBuiltCorrectly("index rebuild")
        index.setCovered(end, sequence: lastSequence)
        return RecoveredLog(index: index, end: end, lastSequence: lastSequence, tornTail: tornTail, problems: problems,
                            replayedRecords: 0, lost: lost)
    }
}
