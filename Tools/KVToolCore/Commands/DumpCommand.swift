import ArgumentParser
import KVStore

/// `kvtool dump SEGMENT-FILE`: every record of one segment file, damaged or not.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "List the records of a segment file: offset, kind, sequence, key, lengths, checksum.",
        discussion: """
            Works on damaged files: after a bad record, the listing resumes at the next 8-byte \
            boundary where a whole valid record starts, and says how many bytes were skipped. \
            Exit status 1 when damage was found. Opens the file read-only; takes no lock. The active \
            segment of a store that another process has open for writing is listed up to where its \
            records end when dump begins (past that, the writer appends into preallocated zeros), and \
            a note on stderr says so (JSON: the header's "access", "writerPID", "state" and "recordsEnd").
            """)

    @Argument(help: "A segment file (\(Store.toolingFileNames.segmentPattern), or a \(Store.toolingFileNames.setAsidePattern) set aside by recovery).")
    var file: String

    @Flag(help: "Read the records even when the file does not start with a segment header.")
    var force = false

    @OptionGroup var output: OutputOptions

    func run() throws {
        let path = file
        switch Store.toolingPathKind(path) {
        case .missing: throw ToolError(ExitStatus.noInput, "\(path): no such file")
        case .directory: throw ToolError(ExitStatus.noInput, "\(path): is a directory, not a segment file")
        default: break
        }
        let reader: RawSegmentReader
        do { reader = try RawSegmentReader(path: path) } catch {
            throw ToolError(ExitStatus.noInput, "\(path): cannot open: \(error.message)")
        }
        var damage = SegmentDamage()
        // Before the first read: the reader keeps what it reads, and every byte before the end
        // found now is a record the writer has finished.
        var live = Self.liveSegment(path)
        switch try translatingErrors(subject: path, { try Store.toolingReadSegmentHeader(reader) }) {
        case .header(let header):
            if let found = live, found.segmentID != header.segmentID || found.storeID != header.storeID { live = nil }
            emitHeader(path, header, reader.fileSize, live)
            if let live {
                live.access.noteIfWriting(path, live.isActive
                    ? "its active segment: listed up to offset \(live.recordsEnd), where its records ended when dump began"
                    : "a sealed segment: it no longer changes")
            }
        case .notASegmentFile(let error) where !force:
            throw ToolError(ExitStatus.dataError, "\(path): \(error.message); use --force to read it anyway")
        case .notASegmentFile(let error), .damaged(let error):
            live = nil
            damage.regions += 1
            damage.bytes += min(Store.toolingSegmentHeaderSize, reader.fileSize)
            emitHeaderDamage(path, error.message)
        }
        var members = 0
        let limit = live.flatMap { $0.isActive ? $0.recordsEnd : nil }
        try translatingErrors(subject: path) {
            do {
                try walk(reader, limit: limit) { event in
                    switch event {
                    case .record(let r):
                        let member = r.kind != RawRecord.batchKind && members > 0
                        if r.kind == RawRecord.batchKind { members = r.batchCount ?? 0 } else if member { members -= 1 }
                        damage.records += 1
                        emitRecord(r, batchMember: member)
                    case .damaged(let offset, let length, let reason, let r):
                        members = 0
                        damage.regions += 1
                        damage.bytes += length
                        emitDamage(offset, length, reason, r)
                    case .uncommittedBatch(let offset, let sequence, let count):
                        members = 0
                        emitUncommitted(offset, sequence, count)
                    case .end(let offset):
                        emitEnd(offset, damage)
                    }
                }
            } catch is ReachedRecordsEnd {
                emitEnd(limit ?? reader.fileSize, damage)
            }
        }
        if damage.regions > 0 { throw ToolError.silent(ExitStatus.negative) }
    }

    /// A segment of a store that a writer in another process has open, as a live reader saw it
    /// when dump began.
    private struct LiveSegment {
        var segmentID: UInt32
        var storeID: UInt64
        var access: LiveAccess
        var isActive: Bool
        /// Where its records ended (for a sealed one, its size).
        var recordsEnd: Int
    }

    /// Thrown from a walk that reached `recordsEnd` of a live active segment.
    private struct ReachedRecordsEnd: Error {}

    /// The walk, stopped at `limit` (``ReachedRecordsEnd``): what lies past it the writer is
    /// writing now, or has not written yet (zeros).
    private func walk(_ reader: RawSegmentReader, limit: Int?, _ body: (RawSegmentEvent) throws -> Void) throws {
        try reader.walk { event in
            if let limit {
                let offset: Int
                switch event {
                case .record(let r): offset = r.offset
                case .damaged(let at, _, _, _), .uncommittedBatch(let at, _, _), .end(let at): offset = at
                }
                if offset >= limit { throw ReachedRecordsEnd() }
            }
            try body(event)
        }
    }

    /// When `path` is a segment of the store in its directory and a writer holds that store's
    /// lock: what a live reader, opened for a moment, says of the segment. `nil` otherwise (the
    /// file is read as it is, and the store is not opened: no index is rebuilt to dump a file).
    private static func liveSegment(_ path: String) -> LiveSegment? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard case .segment(let id) = Store.toolingFileKind(name) else { return nil }
        var directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        if directory.isEmpty { directory = "/" }
        guard LiveAccess.writerHoldsLock(directory: directory),
              let manifest = try? Store.toolingReadManifest(directory: directory) else { return nil }
        var configuration = Store.Configuration()
        configuration.readOnly = true
        guard let store = try? Store(path: directory, configuration: configuration) else { return nil }
        defer { try? store.close() }
        guard let access = try? LiveAccess(store, path: directory) else { return nil }
        guard let segment = (try? StoreSurvey.segmentsNow(store))?.first(where: { $0.id == id }) else { return nil }
        return LiveSegment(segmentID: id, storeID: manifest.storeID, access: access, isActive: segment.isActive,
                           recordsEnd: segment.dataEnd)
    }

    private struct SegmentDamage {
        var records = 0
        var regions = 0
        var bytes = 0
    }

    private func kindName(_ kind: UInt8) -> String {
        switch kind {
        case RawRecord.putKind: return "put"
        case RawRecord.deleteKind: return "delete"
        case RawRecord.batchKind: return "batch"
        default: return "kind\(kind)"
        }
    }

    private func emitHeader(_ path: String, _ h: ToolingSegmentHeader, _ size: Int, _ live: LiveSegment?) {
        if output.json {
            var fields: [(String, JSON)] = [
                ("event", .string("header")), ("file", .string(path)), ("segment", .int(h.segmentID)),
                ("storeID", .string(Format.hex64(h.storeID))), ("formatVersion", .string("\(h.formatMajor).\(h.formatMinor)")),
                ("fileBytes", .int(size)),
            ]
            if let live {
                fields += live.access.jsonFields
                fields += [("state", .string(live.isActive ? "active" : "sealed")), ("recordsEnd", .int(live.recordsEnd))]
            }
            Console.out.line(JSON.object(fields).text)
        } else {
            Console.out.line("\(path): segment \(h.segmentID), store \(Format.hex64(h.storeID)), format \(h.formatMajor).\(h.formatMinor), \(Format.count(size)) bytes")
        }
    }

    private func emitHeaderDamage(_ path: String, _ reason: String) {
        if output.json {
            Console.out.line(JSON.object([("event", .string("damaged")), ("offset", .int(0)), ("length", .int(Store.toolingSegmentHeaderSize)),
                                          ("reason", .string("segment header: " + reason))]).text)
        } else {
            Console.out.line("\(path): DAMAGED segment header: \(reason)")
        }
    }

    private func emitRecord(_ r: RawRecord, batchMember member: Bool) {
        if output.json {
            var fields: [(String, JSON)] = [("event", .string("record")), ("offset", .int(r.offset)), ("kind", .string(kindName(r.kind))),
                                            ("sequence", .int(Int64(bitPattern: r.sequence)))]
            if let count = r.batchCount { fields.append(("count", .int(count))) } else {
                fields += [("key", .string(output.rendering.render(r.key ?? []))), ("keyLength", .int(r.keyLength)),
                           ("valueLength", .int(r.rawValueLength)), ("storedLength", .int(r.storedValueLength)),
                           ("compressed", .bool(r.isCompressed)),
                           ("dictionary", r.dictionaryID != 0 ? .int(Int(r.dictionaryID)) : .null), ("batchMember", .bool(member)), ("uncommitted", .bool(r.uncommitted))]
            }
            fields.append(("checksum", .string("ok")))
            Console.out.line(JSON.object(fields).text)
            return
        }
        var line = Format.pad(String(r.offset), 10) + "  " + Format.padRight(kindName(r.kind), 6) + " seq=\(r.sequence)"
        if let count = r.batchCount {
            line += " count=\(count)"
        } else {
            line += " key=\(output.rendering.render(r.key ?? [])) klen=\(r.keyLength) vlen=\(r.rawValueLength)"
            if r.isCompressed { line += " stored=\(r.storedValueLength) lz4" + (r.dictionaryID != 0 ? " dict=\(r.dictionaryID)" : "") }
            if member { line += " batch" }
            if r.uncommitted { line += " UNCOMMITTED" }
        }
        Console.out.line(line + " crc=ok")
    }

    private func emitDamage(_ offset: Int, _ length: Int, _ reason: String, _ r: RawRecord?) {
        if output.json {
            var fields: [(String, JSON)] = [("event", .string("damaged")), ("offset", .int(offset)), ("length", .int(length)),
                                            ("resumeAt", .int(offset + length)), ("reason", .string(reason))]
            if let r {
                fields += [("kind", .string(kindName(r.kind))), ("sequence", .int(Int64(bitPattern: r.sequence))),
                           ("keyLength", .int(r.keyLength)), ("valueLength", .int(r.rawValueLength)),
                           ("storedLength", .int(r.storedValueLength))]
                if let key = r.key { fields.append(("key", .string(output.rendering.render(key)))) }
            }
            Console.out.line(JSON.object(fields).text)
            return
        }
        var line = Format.pad(String(offset), 10) + "  DAMAGED " + reason + "; \(Format.count(length)) bytes skipped to \(offset + length)"
        if let r {
            line += " (header says: \(kindName(r.kind)) seq=\(r.sequence)"
            if let key = r.key, r.kind != RawRecord.batchKind { line += " key=\(output.rendering.render(key))" }
            line += " klen=\(r.keyLength) vlen=\(r.rawValueLength) stored=\(r.storedValueLength))"
        }
        Console.out.line(line)
    }

    private func emitUncommitted(_ offset: Int, _ sequence: UInt64, _ count: Int) {
        if output.json {
            Console.out.line(JSON.object([("event", .string("uncommittedBatch")), ("offset", .int(offset)),
                                          ("sequence", .int(Int64(bitPattern: sequence))), ("count", .int(count))]).text)
        } else {
            Console.out.line(Format.pad(String(offset), 10) + "  batch  seq=\(sequence) count=\(count) UNCOMMITTED (its commit word was never written; the store ignores its members)")
        }
    }

    private func emitEnd(_ offset: Int, _ damage: SegmentDamage) {
        if output.json {
            Console.out.line(JSON.object([("event", .string("end")), ("offset", .int(offset)), ("records", .int(damage.records)),
                                          ("damagedRegions", .int(damage.regions)), ("damagedBytes", .int(damage.bytes))]).text)
        } else {
            Console.out.line(Format.pad(String(offset), 10) + "  end")
            Console.out.line("\(Format.count(damage.records)) records, \(damage.regions) damaged region\(damage.regions == 1 ? "" : "s") (\(Format.count(damage.bytes)) bytes)")
        }
    }
}
