#if canImport(Glibc)
import Glibc
#endif

/// The integrity check behind ``Store/verify()``.
extension StoreEngine {
    /// The latest record of a key, as found in the log.
    private struct Latest {
        var sequence: UInt64
        var location: Location
        var isPut: Bool
    }

    func verify() throws(KVError) -> Store.VerificationReport {
        if let live {
            let view = try live.refreshSegments()
            if view.watch == nil, try live.writerIsAlive() { return try verifyWhileWriting(view) }
            return try verify(segments: view.segments, index: view.index, end: view.index.covered)
        }
        // Writes wait: the log and the index must not move while they are compared.
        return try withWriter { (writer) throws(KVError) -> Store.VerificationReport in
            try verify(segments: writer.segments, index: writer.index,
                       end: LogPosition(segmentID: writer.active.id, offset: writer.active.end))
        }
    }

    private func verify(segments: SegmentTable, index: HashIndex, end: LogPosition) throws(KVError) -> Store.VerificationReport {
        var report = Store.VerificationReport()
        var latest: [[UInt8]: Latest] = [:]
        var valid = Set<UInt64>()  // locations (segment, offset) of valid records
        for file in segments.all {
            report.segments += 1
            let limit = file.id == end.segmentID ? end.offset : nil
            var records: [(offset: Int, header: RecordHeader, key: [UInt8])] = []
            try scanResyncing(file, limit: limit, report: &report) { offset, header, key in
                records.append((offset, header, key))
            }
            for r in records {
                report.records += 1
                valid.insert(UInt64(file.id) << 32 | UInt64(r.offset))
                let location = Location(segmentID: file.id, offset: r.offset, recordLength: r.header.length)
                if let previous = latest[r.key], previous.sequence > r.header.sequence { continue }
                latest[r.key] = Latest(sequence: r.header.sequence, location: location, isPut: r.header.kind == .put)
            }
            if file.id != end.segmentID {
                checkHint(of: file, against: records, report: &report)
            }
        }
        var suspects = Set<UInt32>()
        checkIndex(index, latest: latest, valid: valid, files: segments, report: &report, suspects: &suspects)
        for problem in report.problems {
            let name = problem.path.split(separator: "/").last.map(String.init) ?? ""
            if let id = FileNames.segmentID(of: name, suffix: FileNames.segmentSuffix) ?? FileNames.segmentID(of: name, suffix: FileNames.hintSuffix) {
                suspects.insert(id)
            }
        }
        compactor.suspects.withLock { $0 = suspects }
        return report
    }

    /// The check a live reader can make while a writer writes (FORMAT.md §12.5): the segments that
    /// were sealed and durable (hinted) when it began, each against its hint, and every slot that
    /// points into one of them, which must point at a valid put there (slots only ever move out of
    /// a sealed segment: compaction copies to the end of the log). Newer records, and keys whose
    /// latest record is newer, are the writer's moving part and are not checked.
    private func verifyWhileWriting(_ view: ReadView) throws(KVError) -> Store.VerificationReport {
        var report = Store.VerificationReport()
        report.checkedWhileWriting = true
        let checked = view.segments.all.filter { $0.state == .hinted }
        report.uncheckedSegments = view.segments.all.count - checked.count
        var valid = Set<UInt64>()
        var checkedIDs = Set<UInt32>()
        for file in checked {
            var records: [(offset: Int, header: RecordHeader, key: [UInt8])] = []
            do {
                try scanResyncing(file, limit: nil, report: &report) { offset, header, key in records.append((offset, header, key)) }
            } catch where error.errno == ENOENT {
                report.uncheckedSegments += 1  // compacted away meanwhile
                continue
            }
            report.segments += 1
            checkedIDs.insert(file.id)
            for r in records where r.header.kind == .put {
                valid.insert(UInt64(file.id) << 32 | UInt64(r.offset))
            }
            report.records += records.count
            checkHint(of: file, against: records, report: &report)
        }
        let path = directory + "/" + FileNames.index
        view.index.forEachLive { slot, _, word in
            let location = Location(word: word)
            guard checkedIDs.contains(location.segmentID) else { return }
            report.keys += 1
            if !valid.contains(UInt64(location.segmentID) << 32 | UInt64(location.offset)) {
                report.problems.append(.init(path: path, offset: Int64(IndexHeader.pageSize + slot * HashIndex.slotSize),
                                             message: "slot \(slot) points at \(FileNames.segment(location.segmentID))@\(location.offset), where no valid put starts"))
            }
        }
        return report
    }

    /// Reads a segment, resynchronizing after damage, so that one damaged record does not hide
    /// the rest. Records run to the end of a sealed segment and to the writer's end of the active
    /// one: zeros before that are damage (a lost block), not an end.
    private func scanResyncing(_ file: SegmentFile, limit: Int?, report: inout Store.VerificationReport,
                               _ record: (Int, RecordHeader, [UInt8]) -> Void) throws(KVError) {
        let hinted = Sys.kind(of: directory + "/" + FileNames.hint(file.id)) == .file
        var reader = try LogReader(file: file, role: limit.map { .active(end: $0) } ?? .sealed(hinted: hinted),
                                   purpose: .inspect(resynchronize: true))
        while true {
            switch try reader.next() {
            case .record(let r):
                record(r.offset, r.header, Array(r.key))
            case .skipped(let offset, _, let reason):
                report.problems.append(.init(path: file.path, offset: Int64(offset), message: reason))
            case .stop(.damage(let offset, let reason)):
                report.problems.append(.init(path: file.path, offset: Int64(offset), message: reason))
                return
            case .stop:
                return
            }
        }
    }

    private func checkHint(of file: SegmentFile, against records: [(offset: Int, header: RecordHeader, key: [UInt8])],
                           report: inout Store.VerificationReport) {
        let path = directory + "/" + FileNames.hint(file.id)
        guard Sys.kind(of: path) == .file else { return }
        report.hints += 1
        guard let bytes = try? readWholeFile(path) else {
            report.problems.append(.init(path: path, offset: nil, message: "cannot read the hint file"))
            return
        }
        let storeID = (try? readWholeFile(directory + "/" + FileNames.manifest))
            .flatMap { try? Manifest.decode($0, path: directory) }?.storeID ?? 0
        let hint: HintFile
        do { hint = try HintFile.decode(bytes, path: path, segmentID: file.id, storeID: storeID) } catch {
            report.problems.append(.init(path: path, offset: error.offset, message: error.message))
            return
        }
        guard hint.entries.count == records.count else {
            report.problems.append(.init(path: path, offset: nil,
                                         message: "lists \(hint.entries.count) records, the segment holds \(records.count)"))
            return
        }
        for (entry, record) in zip(hint.entries, records) {
            let key = Array(hint.bytes[entry.keyStart ..< entry.keyStart + entry.keyLength])
            if entry.offset != record.offset || entry.sequence != record.header.sequence || entry.length != record.header.length
                || entry.kind != record.header.kind || key != record.key {
                report.problems.append(.init(path: path, offset: Int64(entry.offset), message: "entry does not match the segment's record"))
                return
            }
        }
    }

    private func checkIndex(_ index: HashIndex, latest: [[UInt8]: Latest], valid: Set<UInt64>, files: SegmentTable,
                            report: inout Store.VerificationReport, suspects: inout Set<UInt32>) {
        let path = directory + "/" + FileNames.index
        var expected: [UInt64: Location] = [:]  // slot location word → location, for live keys
        for (key, record) in latest where record.isPut {
            report.keys += 1
            expected[record.location.word] = record.location
            let hash = key.withUnsafeBytes { hasher.hash($0) }
            let found = index.probe(hash: hash) { (_, word) -> Bool? in word == record.location.word ? true : nil } ?? false
            if !found {
                suspects.insert(record.location.segmentID)
                report.problems.append(.init(path: path, offset: nil,
                                             message: "a live key (\(key.count) bytes, at \(FileNames.segment(record.location.segmentID))@\(record.location.offset)) is not indexed at its latest record"))
            }
        }
        var live = 0
        index.forEachLive { slot, _, word in
            live += 1
            let location = Location(word: word)
            if expected[word] == nil {
                suspects.insert(location.segmentID)
                let exists = valid.contains(UInt64(location.segmentID) << 32 | UInt64(location.offset))
                report.problems.append(.init(path: path, offset: Int64(IndexHeader.pageSize + slot * HashIndex.slotSize),
                                             message: exists ? "slot \(slot) points at a record that is not its key's latest put"
                                                             : "slot \(slot) points at \(FileNames.segment(location.segmentID))@\(location.offset), where no valid record starts"))
            }
        }
        if live != index.liveCount {
            report.problems.append(.init(path: path, offset: Int64(IndexHeader.liveCount),
                                         message: "liveCount is \(index.liveCount), the table holds \(live) keys"))
        }
    }
}
