#if canImport(Glibc)
import Glibc
#endif

/// Bringing an index that can be trusted up to date: the records after its `covered` position,
/// applied again (FORMAT.md §6, item 3).
extension StoreEngine {
    /// Applies the records after the index's `covered` position to it. Returns `nil` when the index
    /// does not fit the segments on disk (then it is rebuilt).
    static func replay(index: HashIndex, trust: HashIndex.Trust, files: [SegmentFile], directory: String,
                               hasher: KeyHasher, bootID: [UInt8]) throws(KVError) -> RecoveredLog? {
        let covered = index.covered
        guard let last = files.last, let coveredSegment = files.firstIndex(where: { $0.id == covered.segmentID }),
              covered.offset >= SegmentHeader.size, covered.offset % 8 == 0 else { return nil }
        if trust == .clean {
            // A clean close truncated the active segment to its records: nothing to read.
            guard covered.segmentID == last.id else { return nil }
            let size = try last.size()
            if covered.offset == size {
                return RecoveredLog(index: index, end: covered, lastSequence: index.lastSequence, tornTail: nil, problems: [],
                                    replayedRecords: 0, lost: [])
            }
            guard covered.offset < size else { return nil }
        } else if !index.settlePendingChange() {
            let (live, tombstones) = index.recount()
            index.setCounts(live: live, tombstones: tombstones)
        }
        var index = index
        var lastSequence = index.lastSequence
        var end = covered
        var tornTail: Int? = nil
        var problems: [KVError] = []
        var records = 0
        let table = SegmentTable(files)
        for file in files[coveredSegment...] {
            let isLast = file === last
            let hinted = !isLast && file.state == .hinted
            var reader = try LogReader(file: file, role: isLast ? .active(end: nil) : .sealed(hinted: hinted),
                                       purpose: .recover(afterPowerLoss: false),
                                       from: file.id == covered.segmentID ? covered.offset : SegmentHeader.size)
            scan: while true {
                switch try reader.next() {
                case .record(let r):
                    if index.needsRehash() { index = try index.grow(directory: directory, adding: 1, bootID: bootID) }
                    try apply(r, segment: file.id, to: index, table: table, hasher: hasher)
                    lastSequence = max(lastSequence, r.header.sequence)
                    end = LogPosition(segmentID: file.id, offset: r.offset + r.header.alignedLength)
                    records += 1
                case .skipped:
                    continue  // not with this purpose
                case .stop(let stop):
                    end = LogPosition(segmentID: file.id, offset: stop.offset)
                    switch stop {
                    case .end: break
                    case .tornTail(let offset, _): tornTail = offset
                    case .cut(let offset, let reason), .damage(let offset, let reason):
                        problems.append(.corruption("\(reason); records after it are not indexed", path: file.path, offset: Int64(offset)))
                    }
                    break scan
                }
            }
        }
        return RecoveredLog(index: index, end: end, lastSequence: lastSequence, tornTail: tornTail, problems: problems,
                            replayedRecords: records, lost: [])
    }

    /// Re-applies one record to the index. Idempotent: applying a record the index already reflects
    /// changes nothing, which is what makes replaying from `covered` safe after a crash.
    static func apply(_ r: SegmentScanner.Record, segment: UInt32, to index: HashIndex, table: SegmentTable,
                              hasher: KeyHasher) throws(KVError) {
        let hash = hasher.hash(r.key)
        let needed = RecordHeader.size + r.key.count
        let slot = try index.probe(hash: hash) { (slot, word) throws(KVError) -> Int? in
            let location = Location(word: word)
            guard let file = table.file(location.segmentID) else { return nil }
            return try ScratchBuffer.with(needed) { (buffer) throws(KVError) -> Int? in
                let n = try file.read(into: buffer, count: needed, at: location.offset)
                return RecordHeader.keyMatches(UnsafeRawBufferPointer(start: buffer, count: n), r.key) ? slot : nil
            }
        }
        switch (r.header.kind, slot) {
        case (.put, let slot?):
            index.update(slot: slot, location: Location(segmentID: segment, offset: r.offset, recordLength: r.header.length).word)
        case (.put, nil):
            // A table with no empty slot left is damage; the caller rebuilds the index instead.
            guard let free = index.freeSlot(for: hash) else { throw index.inconsistency("no empty slot left for a new key") }
            index.insert(hash: hash, location: Location(segmentID: segment, offset: r.offset, recordLength: r.header.length).word, at: free)
        case (.delete, let slot?):
            index.remove(slot: slot)
        default:
            break
        }
    }
}
