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
            Exit status 1 when damage was found. Opens the file read-only; takes no lock.
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
        switch try translatingErrors(subject: path, { try Store.toolingReadSegmentHeader(reader) }) {
        case .header(let header):
            emitHeader(path, header, reader.fileSize)
        case .notASegmentFile(let error) where !force:
            throw ToolError(ExitStatus.dataError, "\(path): \(error.message); use --force to read it anyway")
        case .notASegmentFile(let error), .damaged(let error):
            damage.regions += 1
            damage.bytes += min(Store.toolingSegmentHeaderSize, reader.fileSize)
            emitHeaderDamage(path, error.message)
        }
        var members = 0
        try translatingErrors(subject: path) {
            try reader.walk { event in
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
        }
        if damage.regions > 0 { throw ToolError.silent(ExitStatus.negative) }
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

    private func emitHeader(_ path: String, _ h: ToolingSegmentHeader, _ size: Int) {
        if output.json {
            Console.out.line(JSON.object([
                ("event", .string("header")), ("file", .string(path)), ("segment", .int(h.segmentID)),
                ("storeID", .string(Format.hex64(h.storeID))), ("formatVersion", .string("\(h.formatMajor).\(h.formatMinor)")),
                ("fileBytes", .int(size)),
            ]).text)
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
                           ("compressed", .bool(r.isCompressed)), ("batchMember", .bool(member)), ("uncommitted", .bool(r.uncommitted))]
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
            if r.isCompressed { line += " stored=\(r.storedValueLength) lz4" }
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
