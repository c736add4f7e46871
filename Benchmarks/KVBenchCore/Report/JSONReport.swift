/// The JSON report: one object with stable keys — `schema`, `date`, `host`, `config`, `results[]`, `skipped[]`.
public enum JSONReport {
    /// The report as a JSON value.
    public static func value(_ report: Report) -> JSONValue {
        .object([
            ("schema", .string("kvbench/1")),
            ("date", .string(report.date)),
            ("host", host(report.host)),
            ("config", config(report.config)),
            ("results", .array(report.results.map(result))),
            ("skipped", .array(report.skipped.map { s in
                .object([("engine", .string(s.engine)), ("name", .string(s.name)), ("reason", .string(s.reason))])
            })),
        ])
    }

    /// The report as pretty-printed JSON text, with a final newline.
    public static func render(_ report: Report) -> String { value(report).rendered(indent: 2) + "\n" }

    static func host(_ host: HostInfo) -> JSONValue {
        .object([
            ("cpu", .string(host.cpu)),
            ("cores", .int(host.cores)),
            ("os", .string(host.os)),
            ("swift", .string(host.swift)),
        ])
    }

    static func config(_ c: BenchConfig) -> JSONValue {
        .object([
            ("benchmarks", .array(c.benchmarks.map { .string($0.rawValue) })),
            ("num", .int(c.num)),
            ("reads", .int(c.readCount)),
            ("key_size", .int(c.keySize)),
            ("value_size", .int(c.valueSize)),
            ("compression_ratio", .double(c.compressionRatio)),
            ("threads", .int(c.threads)),
            ("processes", .int(c.processes)),
            ("compression", .string(c.compression.rawValue)),
            ("durability", .string(c.durability.description)),
            // The budget kvstore opens with (the other engines ignore it), and how it was given.
            ("mapping_budget", .int(c.mappingBudgetBytes)),
            ("mapping_budget_setting", .string(c.mappingBudget.description)),
            ("zipfian", .string(c.zipfian.rawValue)),
            ("engines", .array(c.engines.map { .string($0) })),
            ("db", c.db.map { .string($0) } ?? .null),
            ("use_existing_db", .bool(c.useExistingDB)),
            ("seed", .int(Int(truncatingIfNeeded: c.seed))),
            ("duration", .double(c.duration)),
            ("cold", .bool(c.cold)),
            ("format", .string(c.format.rawValue)),
            ("output", c.output.map { .string($0) } ?? .null),
            ("build", .string(HostInfo.isDebugBuild ? "debug" : "release")),
            ("latency_sampling", .string(c.duration == 0
                ? "every op below 500000 ops per benchmark, else a hashed 1/16" : "a hashed 1/16")),
        ])
    }

    static func latency(_ l: LatencySummary?) -> JSONValue {
        guard let l else { return .null }
        return .object([
            ("p50", .double(l.p50)), ("p90", .double(l.p90)), ("p99", .double(l.p99)),
            ("p999", .double(l.p999)), ("max", .double(l.max)),
        ])
    }

    static func result(_ r: BenchResult) -> JSONValue {
        .object([
            ("engine", .string(r.engine)),
            ("name", .string(r.name)),
            ("threads", .int(r.threads)),
            ("ops", .int(r.ops)),
            ("seconds", .double(r.seconds)),
            ("ops_per_sec", .double(r.opsPerSecond)),
            ("mb_per_sec", .double(r.mbPerSecond)),
            ("found", r.found.map { .int($0) } ?? .null),
            ("attempted", r.attempted.map { .int($0) } ?? .null),
            ("errors", .int(r.errors)),
            ("latency_us", latency(r.latency)),
            ("latency_by_op_us", .object(r.latencyByOperation.map { l in
                (l.operation, .object([
                    ("count", .int(l.count)), ("p50", .double(l.p50)), ("p90", .double(l.p90)),
                    ("p99", .double(l.p99)), ("p999", .double(l.p999)), ("max", .double(l.max)),
                ]))
            })),
            ("peak_rss_kb", .int(r.process.peakRSSKB)),
            // Sampled RssAnon high-water mark: the peak RSS counts a store's mapped file pages.
            ("peak_anon_kb", .int(r.process.peakAnonKB)),
            ("vmsize_kb", .int(r.process.vmSizeKB)),
            ("minor_faults", .int(r.process.minorFaults)),
            ("major_faults", .int(r.process.majorFaults)),
            // Engines with a mapping budget (kvstore), else null: mapped at the end, maps and unmaps during.
            ("mapped_bytes", r.mapping.map { .int($0.mappedBytes) } ?? .null),
            ("mapped_segments", r.mapping.map { .int($0.mappedSegments) } ?? .null),
            ("segment_maps", r.mapping.map { .int($0.segmentMaps) } ?? .null),
            ("segment_unmaps", r.mapping.map { .int($0.segmentUnmaps) } ?? .null),
            ("disk_bytes", .int(Int(r.diskBytes))),
            ("index_bytes_per_key", r.indexBytesPerKey.map { .double($0) } ?? .null),
            ("writes_per_sync", r.writesPerSync.map { .double($0) } ?? .null),
        ] + processes(r) + [
            ("note", r.note.map { .string($0) } ?? .null),
        ])
    }

    /// The `--processes` fields of a result: the reader processes, readwhilewriting's writer, and the background
    /// readers of a write benchmark.
    static func processes(_ r: BenchResult) -> [(String, JSONValue)] {
        [
            ("processes", r.processes.map { .int($0) } ?? .null),
            ("writer_ops", r.writerOps.map { .int($0) } ?? .null),
            ("writer_ops_per_sec", r.writerOpsPerSecond.map { .double($0) } ?? .null),
            ("background_reads_per_sec", r.backgroundReadsPerSecond.map { .double($0) } ?? .null),
        ]
    }
}
