import KVStore

/// Reads every segment file of a damaged store, record by record, and keeps each key's newest
/// record that still checks out; then writes the surviving values into a new store. Behind
/// `kvtool salvage`. Never writes to the damaged store.
struct Salvager {
    /// Bytes that could not be read as records, or a record that could not be copied.
    struct Loss {
        var file: String
        var offset: Int
        var length: Int
        var reason: String
        /// What the damaged record's header says, when it is plausible.
        var record: RawRecord?
    }

    /// A key's newest record found so far.
    private struct Winner {
        var file: Int
        var record: RawRecord
    }

    let source: String
    private(set) var files: [String] = []
    /// Files not read at all, and why.
    private(set) var skipped: [(file: String, reason: String)] = []
    private(set) var losses: [Loss] = []
    /// Records that checked out.
    private(set) var records = 0
    /// Members of batches that were never committed (the store ignores them too).
    private(set) var uncommitted = 0
    private var winners: [[UInt8]: Winner] = [:]

    init(source: String) {
        self.source = source
    }

    /// Keys whose newest record found is a delete: they stay deleted.
    var deletedKeys: Int { winners.values.filter { $0.record.kind == RawRecord.deleteKind }.count }
    /// Damaged records whose header names a key with a newer sequence than what survives of it.
    var keysWithNewerDamage: Int {
        var keys = Set<[UInt8]>()
        for loss in losses {
            guard let r = loss.record, let key = r.key, r.kind != RawRecord.batchKind else { continue }
            if let winner = winners[key], winner.record.sequence >= r.sequence { continue }
            keys.insert(key)
        }
        return keys.count
    }

    /// Reads the segment files of the source, and those recovery set aside.
    mutating func read(storeID: UInt64?) throws {
        let names = try Store.toolingListDirectory(source).filter { name in
            switch Store.toolingFileKind(name) {
            case .segment, .setAsideSegment: return true
            default: return false
            }
        }.sorted()
        let progress = Progress("salvaging: reading", total: names.count)
        defer { progress.finish() }
        for name in names {
            progress.advance()
            try read(file: source + "/" + name, storeID: storeID)
        }
    }

    private mutating func read(file path: String, storeID: UInt64?) throws {
        let reader: RawSegmentReader
        do { reader = try RawSegmentReader(path: path) } catch {
            skipped.append((path, error.message))
            return
        }
        do {
            let header = try reader.header()
            if let storeID, header.storeID != storeID {
                skipped.append((path, "belongs to another store"))
                return
            }
        } catch where error.code == .incompatibleFormat {
            skipped.append((path, error.message))
            return
        } catch {
            losses.append(Loss(file: path, offset: 0, length: min(Store.toolingSegmentHeaderSize, reader.fileSize),
                               reason: "segment header: " + error.message))
        }
        let fileIndex = files.count
        files.append(path)
        try reader.walk { event in
            switch event {
            case .record(let r):
                guard r.kind != RawRecord.batchKind else { return }
                guard !r.uncommitted else { uncommitted += 1; return }
                records += 1
                guard let key = r.key else { return }
                if let existing = winners[key], existing.record.sequence >= r.sequence { return }
                winners[key] = Winner(file: fileIndex, record: r)
            case .damaged(let offset, let length, let reason, let r):
                losses.append(Loss(file: path, offset: offset, length: length, reason: reason, record: r))
            case .uncommittedBatch, .end:
                break
            }
        }
    }

    /// Writes every surviving value into `store`, in atomic batches. Returns the keys written.
    mutating func write(into store: Store) throws -> Int {
        var byFile: [[Winner]] = Array(repeating: [], count: files.count)
        for winner in winners.values where winner.record.kind == RawRecord.putKind { byFile[winner.file].append(winner) }
        let progress = Progress("salvaging: writing", total: byFile.reduce(0) { $0 + $1.count })
        defer { progress.finish() }
        var written = 0
        var batch = ImportBatcher(store: store)
        for (i, group) in byFile.enumerated() where !group.isEmpty {
            let reader = try RawSegmentReader(path: files[i])
            for winner in group.sorted(by: { $0.record.offset < $1.record.offset }) {
                progress.advance()
                let value: [UInt8]
                do { value = try reader.value(of: winner.record) } catch {
                    losses.append(Loss(file: files[i], offset: winner.record.offset, length: winner.record.length,
                                       reason: error.message, record: winner.record))
                    continue
                }
                try batch.set(value, forKey: winner.record.key ?? [])
                written += 1
            }
        }
        try batch.flush()
        return written
    }
}
