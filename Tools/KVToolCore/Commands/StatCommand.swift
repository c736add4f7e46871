import ArgumentParser
import KVStore

/// `kvtool stat STORE [--scan] [--top N]`: the store's size and shape.
struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Show format version, segments, keys, live and dead bytes, fragmentation, compression and index figures.",
        discussion: """
            Answers from the STORE file, the index header and the files' sizes, without reading \
            a record: in well under a second on a store of any size. --scan (and --top) also \
            reads every record once, for live and dead bytes, fragmentation, compression and \
            damage (a progress line is shown when stderr is a terminal). Changes nothing, and \
            works while another process has the store open for writing: `Access:` then says \
            `live (writer pid N)`, and the figures are as of the moment each segment is read \
            (JSON: "access" and "writerPID").
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Flag(help: "Also read every record: live and dead bytes, fragmentation, compression, damage.")
    var scan = false

    @Option(help: "Also list the N largest live values (implies --scan).")
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
        let scanning = scan || top > 0
        let (access, survey, statistics, dictionaries) = try StoreAccess.with(path, for: .inspect) { store in
            (try LiveAccess(store, path: path), scanning ? try StoreSurvey(store, top: top) : nil,
             scanning ? try store.statistics : try store.toolingQuickStatistics, store.toolingDictionaries())
        }
        survey?.warnAboutDamage(store: path)
        if output.json {
            Console.out.line(json(path, access, manifest, survey, statistics, dictionaries).text)
        } else {
            text(path, access, manifest, survey, statistics, dictionaries)
        }
    }

    private func text(_ path: String, _ access: LiveAccess, _ m: ToolingManifest, _ s: StoreSurvey?, _ st: Store.Statistics,
                      _ dictionaries: [ToolingDictionary]) {
        let segments = s?.segments.count ?? st.segments
        let active = s.map { $0.segments.filter(\.segment.isActive).count } ?? (segments > 0 ? 1 : 0)
        var lines = [
            "Store: \(path)",
            "  Access: \(access.summary)",
            "  Format version: \(m.formatMajor).\(m.formatMinor)",
            "  Features: \(m.features.isEmpty ? "none" : m.features.joined(separator: ", "))",
            "  Store ID: \(Format.hex64(m.storeID))",
            "  Created: \(Format.date(secondsSince1970: m.createdAt))",
            "  Disk bytes: \(Format.bytes(st.diskBytes)) (\(Format.count(st.diskBytes)))",
            "Segments: \(segments) (\(active) active, \(segments - active) sealed)",
            "Keys: \(Format.count(s?.liveKeys ?? st.keys)) live",
        ]
        if let s {
            lines += [
                "Data:",
                "  Record bytes: \(Format.bytes(s.dataBytes)) (\(Format.count(s.dataBytes)))",
                "  Live bytes: \(Format.bytes(s.liveBytes)) (\(Format.count(s.liveBytes)))",
                "  Dead bytes: \(Format.bytes(s.deadBytes)) (\(Format.count(s.deadBytes)))",
                "  Fragmentation: \(Format.percent(s.fragmentation))",
                "  Compression ratio: \(Format.fixed(s.compressionRatio, digits: 2)) (live values \(Format.bytes(s.liveRawValueBytes)) raw, \(Format.bytes(s.liveStoredValueBytes)) stored)",
            ]
        }
        lines += [
            "Index:",
            "  Capacity: \(Format.count(st.indexCapacity)) slots",
            "  Load: \(Format.percent(st.indexLoad))",
            "  File: \(Format.bytes(st.indexBytes))" + (st.indexInSharedMemory ? " in shared memory (/dev/shm, while the writer has it open)" : ""),
            "  Bytes per key: \(Format.fixed(st.indexBytesPerKey, digits: 1))",
        ]
        if !dictionaries.isEmpty {
            lines.append("Dictionaries: \(dictionaries.count)")
            for d in dictionaries {
                var line = "  #\(d.id): "
                if let problem = d.problem {
                    line += "UNREADABLE: \(problem)"
                } else {
                    line += "\(Format.bytes(d.bytes)), trained on \(Format.count(d.trainedOn)) values, from segment \(d.firstSegment)"
                }
                if let s {
                    let u = s.dictionaryUse[d.id] ?? (0, 0, 0)
                    line += "; \(Format.count(u.values)) live values"
                    if u.stored > 0 { line += ", ratio \(Format.fixed(Double(u.raw) / Double(u.stored), digits: 2))" }
                }
                lines.append(line)
            }
        }
        if s == nil { lines.append("(live and dead bytes, fragmentation, compression, dictionary use, damage: kvtool stat --scan reads every record)") }
        if let s, top > 0 {
            lines.append("Largest values:")
            for (i, v) in s.largest.enumerated() {
                let stored = v.storedLength != v.rawLength ? " (\(Format.bytes(v.storedLength)) stored)" : ""
                lines.append("  \(i + 1). \(output.rendering.render(v.key)): \(Format.bytes(v.rawLength))\(stored)")
            }
        }
        for line in lines { Console.out.line(line) }
    }

    private func json(_ path: String, _ access: LiveAccess, _ m: ToolingManifest, _ s: StoreSurvey?, _ st: Store.Statistics,
                      _ dictionaries: [ToolingDictionary]) -> JSON {
        let segments = s?.segments.count ?? st.segments
        let active = s.map { $0.segments.filter(\.segment.isActive).count } ?? (segments > 0 ? 1 : 0)
        var fields: [(String, JSON)] = [("path", .string(path))] + access.jsonFields + [
            ("formatVersion", .string("\(m.formatMajor).\(m.formatMinor)")),
            ("features", .array(m.features.map { .string($0) })),
            ("storeID", .string(Format.hex64(m.storeID))),
            ("createdAt", .int(m.createdAt)),
            ("diskBytes", .int(st.diskBytes)),
            ("segments", .int(segments)),
            ("activeSegments", .int(active)),
            ("sealedSegments", .int(segments - active)),
            ("liveKeys", .int(s?.liveKeys ?? st.keys)),
            ("indexCapacity", .int(st.indexCapacity)),
            ("indexLoad", .double(st.indexLoad)),
            ("indexBytes", .int(st.indexBytes)),
            ("indexBytesPerKey", .double(st.indexBytesPerKey)),
            ("indexInSharedMemory", .bool(st.indexInSharedMemory)),
            ("scanned", .bool(s != nil)),
            ("dictionaries", .array(dictionaries.map { d in
                var entry: [(String, JSON)] = [("id", .int(Int(d.id))), ("bytes", .int(d.bytes)), ("trainedOn", .int(d.trainedOn)),
                                               ("firstSegment", .int(Int(d.firstSegment))), ("problem", d.problem.map { .string($0) } ?? .null)]
                if let s {
                    let u = s.dictionaryUse[d.id] ?? (0, 0, 0)
                    entry += [("liveValues", .int(u.values)), ("liveRawBytes", .int(u.raw)), ("liveStoredBytes", .int(u.stored))]
                }
                return .object(entry)
            })),
        ]
        guard let s else { return .object(fields) }
        fields += [
            ("recordBytes", .int(s.dataBytes)),
            ("liveBytes", .int(s.liveBytes)),
            ("deadBytes", .int(s.deadBytes)),
            ("fragmentation", .double(s.fragmentation)),
            ("compressionRatio", .double(s.compressionRatio)),
            ("liveRawValueBytes", .int(s.liveRawValueBytes)),
            ("liveStoredValueBytes", .int(s.liveStoredValueBytes)),
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
