#if canImport(Glibc)
import Glibc
#endif

/// The integrity check behind ``Store/verify()``.
extension StoreEngine {
    /// What the log says each key ended with, in a table of its own (a ``RebuildTable`` in a
    /// temporary file, removed at once): the check takes memory that does not grow with the keys.
    private func logTable(segments: [SegmentFile], expectedKeys: Int) throws(KVError) -> RebuildTable {
        let path = LiveReader.temporaryDirectory() + "/kvstore-verify-\(UInt64.random(in: 0...UInt64.max)).index"
        return try RebuildTable(path: path, capacity: HashIndex.capacity(forLiveKeys: expectedKeys + expectedKeys / 4),
                                storeID: 0, hashSeed: 0, generation: 0, bootID: [UInt8](repeating: 0, count: 16), segments: segments)
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
        var table = try logTable(segments: segments.all, expectedKeys: index.liveCount)
        defer { table.discard() }
        for file in segments.all {
            report.segments += 1
            let limit = file.id == end.segmentID ? end.offset : nil
            var records: [(offset: Int, header: RecordHeader, key: [UInt8])] = []
            try scanResyncing(file, limit: limit, report: &report) { offset, header, key in
                records.append((offset, header, key))
            }
            for r in records {
                report.records += 1
                try r.key.withBytes { (key) throws(KVError) in
                    try table.offer(hash: hasher.hash(key), key: key, segmentID: file.id, offset: r.offset,
                                    length: r.header.length, isDelete: r.header.kind == .delete)
                }
            }
            if file.id != end.segmentID {
                checkHint(of: file, against: records, report: &report)
            }
        }
        var suspects = Set<UInt32>()
        checkIndex(index, against: table, files: segments, report: &report, suspects: &suspects)
        for problem in report.problems {
            let name = problem.path.split(separator: "/").last.map(String.init) ?? ""
            if let id = FileNames.segmentID(of: name, suffix: FileNames.segmentSuffix) ?? FileNames.segmentID(of: name, suffix: FileNames.hintSuffix) {
                suspects.insert(id)
            }
        }
        compactor.setSuspects(suspects)
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
        var table = try logTable(segments: checked, expectedKeys: view.index.liveCount)
        defer { table.discard() }
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
            for r in records {
                try r.key.withBytes { (key) throws(KVError) in
                    try table.offer(hash: hasher.hash(key), key: key, segmentID: file.id, offset: r.offset,
                                    length: r.header.length, isDelete: r.header.kind == .delete)
                }
            }
            report.records += records.count
            checkHint(of: file, against: records, report: &report)
        }
        let path = directory + "/" + FileNames.index
        view.index.forEachLive { slot, hash, word in
            let location = Location(word: word)
            guard checkedIDs.contains(location.segmentID) else { return }
            report.keys += 1
            // A slot only ever moves forward, so one that points into these segments must point
            // at the put its key ended with in them.
            if !table.holdsPut(hash: hash, word: word) {
                report.problems.append(.init(path: path, offset: Int64(IndexHeader.pageSize + slot * HashIndex.slotSize),
                                             message: slotMessage(slot, location, segments: view.segments)))
            }
        }
        return report
    }

    /// What is wrong with a slot that does not point at its key's latest put.
    private func slotMessage(_ slot: Int, _ location: Location, segments: SegmentTable) -> String {
        if isValidRecordStart(location, segments: segments) { return "slot \(slot) points at a record that is not its key's latest put" }
        return "slot \(slot) points at \(FileNames.segment(location.segmentID))@\(location.offset), where no valid record starts"
    }

    /// Whether a valid record starts at `location` (read again: only slots found wrong ask).
    private func isValidRecordStart(_ location: Location, segments: SegmentTable) -> Bool {
        guard let file = segments.all.first(where: { $0.id == location.segmentID }),
              var reader = try? LogReader(file: file, role: .sealed(hinted: true), purpose: .inspect(resynchronize: false),
                                          from: location.offset),
              case .record(let r)? = try? reader.next() else { return false }
        return r.offset == location.offset
    }

    /// Reads a segment, resynchronizing after damage, so that one damaged record does not hide
    /// the rest. Records run to the end of a sealed segment and to the writer's end of the active
    /// one: zeros before that are damage (a lost block), not an end.
    /// That a compressed value decompresses: its dictionary is there and sound (reported once per
    /// dictionary and segment), and the value comes out at its length.
    private func checkValue(_ stored: UnsafeRawBufferPointer, _ header: RecordHeader, at offset: Int, of file: SegmentFile,
                            report: inout Store.VerificationReport, unreadable: inout Set<UInt16>) {
        if header.dictionaryID != 0 {
            guard !unreadable.contains(header.dictionaryID) else { return }
            do throws(KVError) { _ = try dictionaries.load(header.dictionaryID) } catch {
                unreadable.insert(header.dictionaryID)
                report.problems.append(.init(path: error.path ?? dictionaries.path(header.dictionaryID), offset: nil,
                                             message: error.message + " (used by \(file.path), the first at offset \(offset))"))
                return
            }
        }
        do throws(KVError) {
            try ScratchBuffer.with(max(1, header.rawValueLength), slot: 1) { (out) throws(KVError) in
                try dictionaries.decompress(stored, header: header, into: out, path: file.path, offset: offset)
            }
        } catch {
            report.problems.append(.init(path: file.path, offset: Int64(offset), message: error.message))
        }
    }

    private func scanResyncing(_ file: SegmentFile, limit: Int?, report: inout Store.VerificationReport,
                               _ record: (Int, RecordHeader, [UInt8]) -> Void) throws(KVError) {
        let hinted = Sys.kind(of: directory + "/" + FileNames.hint(file.id)) == .file
        var reader = try LogReader(file: file, role: limit.map { .active(end: $0) } ?? .sealed(hinted: hinted),
                                   purpose: .inspect(resynchronize: true))
        var unreadable = Set<UInt16>()
        while true {
            switch try reader.next() {
            case .record(let r):
                if r.header.isCompressed { checkValue(r.storedValue, r.header, at: r.offset, of: file, report: &report, unreadable: &unreadable) }
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

    /// Both ways: every key the log ends with a put of is indexed at exactly that record, and
    /// every slot points at the put its key ended with. Location words identify records, so the
    /// comparison needs no key.
    private func checkIndex(_ index: HashIndex, against table: RebuildTable, files: SegmentTable,
                            report: inout Store.VerificationReport, suspects: inout Set<UInt32>) {
        let path = directory + "/" + FileNames.index
        table.forEachPut { hash, word in
            report.keys += 1
            let found = index.probe(hash: hash) { (_, existing) -> Bool? in existing == word ? true : nil } ?? false
            if !found {
                let location = Location(word: word)
                suspects.insert(location.segmentID)
                report.problems.append(.init(path: path, offset: nil,
                                             message: "a live key (at \(FileNames.segment(location.segmentID))@\(location.offset)) is not indexed at its latest record"))
            }
        }
        var live = 0
        index.forEachLive { slot, hash, word in
            live += 1
            if !table.holdsPut(hash: hash, word: word) {
                let location = Location(word: word)
                suspects.insert(location.segmentID)
                report.problems.append(.init(path: path, offset: Int64(IndexHeader.pageSize + slot * HashIndex.slotSize),
                                             message: slotMessage(slot, location, segments: files)))
            }
        }
        if live != index.liveCount {
            report.problems.append(.init(path: path, offset: Int64(IndexHeader.liveCount),
                                         message: "liveCount is \(index.liveCount), the table holds \(live) keys"))
        }
    }
}
