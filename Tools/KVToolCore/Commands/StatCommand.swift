import ArgumentParser
import KVStore

/// `kvtool stat STORE [--top N]`: the store's size and shape.
struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Show format version, segments, keys, live and dead bytes, fragmentation, compression and index figures.",
        discussion: """
            Reads every record once (a progress line is shown when stderr is a terminal). Changes \
            nothing, and works while another process has the store open for writing: `Access:` \
            then says `live (writer pid N)`, and the figures are as of the moment each segment is \
            read (JSON: "access" and "writerPID").
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Option(help: "Also list the N largest live values.")
    var top = 0

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard top >= 0 else { throw ValidationError("--top must not be negative") }
    }

    func run() throws {
        let path = StoreAccess.normalize(store)
        let manifest = try translatingErrors(subject: path) {
            try StoreAccess.check(path)
            return try Store.toolingReadManifest(directory: path)
        }
        let (access, survey, statistics) = try StoreAccess.with(path, for: .inspect) { store in
            (try LiveAccess(store, path: path), try StoreSurvey(store, top: top), try store.statistics)
        }
        survey.warnAboutDamage(store: path)
        if output.json {
            Console.out.line(json(path, access, manifest, survey, statistics).text)
        } else {
            text(path, access, manifest, survey, statistics)
        }
    }

    private func text(_ path: String, _ access: LiveAccess, _ m: ToolingManifest, _ s: StoreSurvey, _ st: Store.Statistics) {
        let active = s.segments.filter(\.segment.isActive).count
        var lines = [
            "Store: \(path)",
            "  Access: \(access.summary)",
            "  Format version: \(m.formatMajor).\(m.formatMinor)",
            "  Store ID: \(Format.hex64(m.storeID))",
            "  Created: \(Format.date(secondsSince1970: m.createdAt))",
            "  Disk bytes: \(Format.bytes(st.diskBytes)) (\(Format.count(st.diskBytes)))",
            "Segments: \(s.segments.count) (\(active) active, \(s.segments.count - active) sealed)",
            "Keys: \(Format.count(s.liveKeys)) live",
            "Data:",
            "  Record bytes: \(Format.bytes(s.dataBytes)) (\(Format.count(s.dataBytes)))",
            "  Live bytes: \(Format.bytes(s.liveBytes)) (\(Format.count(s.liveBytes)))",
            "  Dead bytes: \(Format.bytes(s.deadBytes)) (\(Format.count(s.deadBytes)))",
            "  Fragmentation: \(Format.percent(s.fragmentation))",
            "  Compression ratio: \(Format.fixed(s.compressionRatio, digits: 2)) (live values \(Format.bytes(s.liveRawValueBytes)) raw, \(Format.bytes(s.liveStoredValueBytes)) stored)",
            "Index:",
            "  Capacity: \(Format.count(st.indexCapacity)) slots",
            "  Load: \(Format.percent(st.indexLoad))",
            "  File: \(Format.bytes(st.indexBytes))",
            "  Bytes per key: \(Format.fixed(st.indexBytesPerKey, digits: 1))",
        ]
        if top > 0 {
            lines.append("Largest values:")
            for (i, v) in s.largest.enumerated() {
                let stored = v.storedLength != v.rawLength ? " (\(Format.bytes(v.storedLength)) stored)" : ""
                lines.append("  \(i + 1). \(output.rendering.render(v.key)): \(Format.bytes(v.rawLength))\(stored)")
            }
        }
        for line in lines { Console.out.line(line) }
    }

    private func json(_ path: String, _ access: LiveAccess, _ m: ToolingManifest, _ s: StoreSurvey, _ st: Store.Statistics) -> JSON {
        let active = s.segments.filter(\.segment.isActive).count
        var fields: [(String, JSON)] = [("path", .string(path))] + access.jsonFields + [
            ("formatVersion", .string("\(m.formatMajor).\(m.formatMinor)")),
            ("storeID", .string(Format.hex64(m.storeID))),
            ("createdAt", .int(m.createdAt)),
            ("diskBytes", .int(st.diskBytes)),
            ("segments", .int(s.segments.count)),
            ("activeSegments", .int(active)),
            ("sealedSegments", .int(s.segments.count - active)),
            ("liveKeys", .int(s.liveKeys)),
            ("recordBytes", .int(s.dataBytes)),
            ("liveBytes", .int(s.liveBytes)),
            ("deadBytes", .int(s.deadBytes)),
            ("fragmentation", .double(s.fragmentation)),
            ("compressionRatio", .double(s.compressionRatio)),
            ("liveRawValueBytes", .int(s.liveRawValueBytes)),
            ("liveStoredValueBytes", .int(s.liveStoredValueBytes)),
            ("indexCapacity", .int(st.indexCapacity)),
            ("indexLoad", .double(st.indexLoad)),
            ("indexBytes", .int(st.indexBytes)),
            ("indexBytesPerKey", .double(st.indexBytesPerKey)),
            ("problems", .array(s.damage.map { .string(StoreSurvey.describe($0)) })),
            ("damage", .array(s.damage.map(StoreSurvey.json))),
        ]
        if top > 0 {
            fields.append(("largestValues", .array(s.largest.map { v in
                .object([("key", .string(output.rendering.render(v.key))), ("bytes", .int(v.rawLength)),
                         ("storedBytes", .int(v.storedLength)), ("segment", .int(v.segmentID))])
            })))
        }
        return .object(fields)
    }
}
