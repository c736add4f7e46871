import ArgumentParser
import KVStore

/// `kvtool segments STORE`: one row per segment file.
struct SegmentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segments",
        abstract: "List the segments: id, size, records, live records, dead bytes, fragmentation, compressed share, state.",
        discussion: """
            SIZE is the bytes of records (the active segment's file is preallocated beyond them). \
            Segment files the store does not use are listed too: DAMAGED (unreadable header) and \
            SET-ASIDE (\(Store.toolingFileNames.setAsidePattern), after a power loss cut the log). \
            Changes nothing, and works while another process has the store open for writing: a \
            note on stderr then names the writer, and each segment is counted as it is when it is \
            read (the active one up to the writer's last record).
            """,
        aliases: ["ls"])

    @Argument(help: "The store directory.")
    var store: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let path = StoreAccess.normalize(store)
        let (access, survey) = try StoreAccess.with(path, for: .inspect) { store in
            (try LiveAccess(store, path: path), try StoreSurvey(store, top: 0))
        }
        let others = try translatingErrors(subject: path) { try unusedSegmentFiles(path, survey, access) }
        access.noteIfWriting(path, "the rows are as of the listing: the writer appends to the active segment, "
                             + "and may add segments and compact sealed ones meanwhile")
        survey.warnAboutDamage(store: path)
        if output.json {
            for s in survey.segments { Console.out.line(json(s).text) }
            for (name, state) in others {
                Console.out.line(JSON.object([("file", .string(name)), ("state", .string(state))]).text)
            }
            return
        }
        var rows = [["ID", "FILE", "SIZE", "RECORDS", "LIVE", "DEAD BYTES", "FRAG", "COMPRESSED", "STATE"]]
        for s in survey.segments {
            rows.append([String(s.segment.id), fileName(s.segment.path), Format.bytes(s.dataBytes), Format.count(s.records),
                         Format.count(s.liveRecords), Format.bytes(s.deadBytes), Format.percent(s.fragmentation),
                         Format.percent(s.compressedShare), state(s)])
        }
        for (name, state) in others { rows.append(["-", name, "-", "-", "-", "-", "-", "-", state]) }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { column, cell in
                column == 1 || column == row.count - 1 ? Format.padRight(cell, widths[column]) : Format.pad(cell, widths[column])
            }
            var line = cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            Console.out.line(line)
        }
    }

    private func state(_ s: StoreSurvey.Segment) -> String {
        (s.segment.isActive ? "active" : "sealed") + (s.damage.isEmpty ? "" : ",damaged")
    }

    private func json(_ s: StoreSurvey.Segment) -> JSON {
        .object([
            ("id", .int(s.segment.id)), ("file", .string(fileName(s.segment.path))), ("fileBytes", .int(s.segment.fileSize)),
            ("size", .int(s.dataBytes)), ("records", .int(s.records)), ("puts", .int(s.puts)), ("deletes", .int(s.deletes)),
            ("live", .int(s.liveRecords)), ("liveBytes", .int(s.liveBytes)), ("deadBytes", .int(s.deadBytes)),
            ("fragmentation", .double(s.fragmentation)), ("compressedShare", .double(s.compressedShare)),
            ("state", .string(s.segment.isActive ? "active" : "sealed")), ("damaged", .bool(!s.damage.isEmpty)),
            ("damage", .array(s.damage.map(StoreSurvey.json))),
        ])
    }

    private func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// Segment files in the directory that the store does not read. While a writer has the store
    /// open, those newer than every segment surveyed are left out: it created them after the
    /// survey listed the store's.
    private func unusedSegmentFiles(_ path: String, _ survey: StoreSurvey, _ access: LiveAccess) throws -> [(String, String)] {
        let used = Set(survey.segments.map(\.segment.id))
        let newest = access.hasWriter ? survey.segments.last?.segment.id ?? 0 : UInt32.max
        return try Store.toolingListDirectory(path).sorted().compactMap { name in
            switch Store.toolingFileKind(name) {
            case .setAsideSegment: return (name, "SET-ASIDE")
            case .segment(let id) where !used.contains(id) && id <= newest: return (name, "DAMAGED")
            default: return nil
            }
        }
    }
}
