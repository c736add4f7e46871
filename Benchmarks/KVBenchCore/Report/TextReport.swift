/// The human report, in db_bench's shape: a header, one line per benchmark followed by its latency table, and with
/// several engines a ratio table against the first one.
public enum TextReport {
    /// The header printed before anything runs.
    public static func header(config: BenchConfig, host: HostInfo, date: String, directory: String) -> String {
        let raw = Double(config.keySize + config.valueSize) * Double(config.num) / 1_048_576
        let compressed = Int(Double(config.valueSize) * config.compressionRatio + 0.5)
        let file = Double(config.keySize + compressed) * Double(config.num) / 1_048_576
        var lines = [
            "kvbench:    engines \(config.engines.joined(separator: ", "))",
            "Date:       \(date)",
            "CPU:        \(host.cores) * \(host.cpu)",
            "CPUCache:   \(host.cpuCache.isEmpty ? "unknown" : host.cpuCache)",
            "OS:         \(host.os)",
            "Swift:      \(host.swift) (\(HostInfo.isDebugBuild ? "debug" : "release") build)",
            "Keys:       \(config.keySize) bytes each",
            "Values:     \(config.valueSize) bytes each (\(compressed) bytes after compression)",
            "Entries:    \(config.num)",
            "RawSize:    \(Format.fixed(raw, 1)) MB (estimated)",
            "FileSize:   \(Format.fixed(file, 1)) MB (estimated)",
            "Settings:   threads \(config.threads)"
                + (config.processes > 0 ? ", reader processes \(config.processes)" : "")
                + ", compression \(config.compression.rawValue), durability \(config.durability), seed \(config.seed)"
                + ", mapping budget " + mappingBudget(config) + ", zipfian \(config.zipfian.rawValue)"
                + ", reads \(config.readCount)"
                + (config.duration > 0 ? ", duration \(Format.fixed(config.duration, 1)) s" : "")
                + (config.cold ? ", cold reads" : ", warm reads"),
            "DB:         \(directory)",
        ]
        if HostInfo.isDebugBuild {
            lines.append("WARNING: Optimization is disabled: benchmarks unnecessarily slow")
        }
        lines.append("------------------------------------------------")
        return lines.joined(separator: "\n") + "\n"
    }

    /// "1.00 GiB (default)", "64.0 MiB", "0 (pread only)": the budget kvstore opens with.
    static func mappingBudget(_ config: BenchConfig) -> String {
        let bytes = config.mappingBudgetBytes
        let size = bytes == 0 ? "0 (pread only)" : bytes >= 1_048_576 ? Format.bytes(Int64(bytes)) : "\(bytes) bytes"
        return config.mappingBudget == .engineDefault ? size + " (default)" : size
    }

    /// The heading of one engine's section.
    public static func engineHeading(_ name: String, summary: String) -> String {
        "\n== \(name): \(summary)\n"
    }

    /// The db_bench line of a result, then its latency table.
    public static func result(_ r: BenchResult) -> String {
        var line = Format.left(r.name, 12) + " : " + Format.right(Format.fixed(r.microsPerOp, 3), 11)
            + " micros/op " + Format.fixed(r.opsPerSecond, 0) + " ops/sec " + Format.fixed(r.seconds, 3)
            + " seconds " + String(r.ops) + " operations;"
        if r.bytes > 0 { line += " " + Format.right(Format.fixed(r.mbPerSecond, 1), 6) + " MB/s" }
        if let found = r.found {
            line += r.attempted.map { " (\(found) of \($0) found)" } ?? " (\(found) entries)"
        }
        if let note = r.note { line += " [\(note)]" }
        var text = line + "\n" + processLine(r)
        if !r.latencyByOperation.isEmpty { text += latencyTable(r.latencyByOperation) }
        return text
    }

    /// The memory, page-fault and mapping figures of a result: "    memory: peak RSS 52 MiB (anonymous 20 MiB), VmSize 1.10 GiB; page
    /// faults 1210 minor, 0 major; mapped 64.0 MiB in 1 segment at the end, 1 map and 0 unmaps during".
    static func processLine(_ r: BenchResult) -> String {
        let p = r.process
        var line = "    memory: peak RSS " + Format.bytes(Int64(p.peakRSSKB) * 1024) + " (anonymous "
            + Format.bytes(Int64(p.peakAnonKB) * 1024) + "), VmSize "
            + Format.bytes(Int64(p.vmSizeKB) * 1024) + "; page faults \(p.minorFaults) minor, \(p.majorFaults) major"
        if let m = r.mapping {
            line += "; mapped " + Format.bytes(Int64(m.mappedBytes)) + " in \(m.mappedSegments) segment"
                + (m.mappedSegments == 1 ? "" : "s") + " at the end, \(m.segmentMaps) map"
                + (m.segmentMaps == 1 ? "" : "s") + " and \(m.segmentUnmaps) unmap"
                + (m.segmentUnmaps == 1 ? "" : "s") + " during"
        }
        return line + "\n"
    }

    /// A benchmark that did not run.
    public static func skipped(_ name: String, reason: String) -> String {
        Format.left(name, 12) + " : " + reason + "\n"
    }

    /// The per-operation latency rows.
    static func latencyTable(_ rows: [LatencySummary]) -> String {
        let columns = ["count", "p50", "p90", "p99", "p99.9", "max"]
        var text = "    " + Format.left("latency (us)", 14) + columns.map { Format.right($0, 10) }.joined() + "\n"
        for row in rows {
            let cells = [String(row.count), Format.micros(row.p50), Format.micros(row.p90), Format.micros(row.p99),
                         Format.micros(row.p999), Format.micros(row.max)]
            text += "    " + Format.left(row.operation, 14) + cells.map { Format.right($0, 10) }.joined() + "\n"
        }
        return text
    }

    /// With several engines: ops/sec per benchmark and engine, then the first engine's ops/sec divided by each
    /// other engine's (> 1: the first engine is faster), plus disk and index figures.
    public static func ratios(_ results: [BenchResult], engines: [String]) -> String {
        guard engines.count > 1, let reference = engines.first else { return "" }
        var names: [String] = []
        for r in results where !names.contains(r.name) { names.append(r.name) }
        func find(_ engine: String, _ name: String) -> BenchResult? {
            results.last { $0.engine == engine && $0.name == name }
        }
        let width = max(12, (engines.map(\.count).max() ?? 0) + 2)
        var text = "\nThroughput (ops/sec; rebuild: keys/s):\n" + Format.left("benchmark", 18)
            + engines.map { Format.right($0, width) }.joined() + "\n"
        for name in names {
            text += Format.left(name, 18) + engines.map { engine in
                Format.right(find(engine, name).map { Format.short($0.opsPerSecond) } ?? "-", width)
            }.joined() + "\n"
        }
        let others = Array(engines.dropFirst())
        text += "\nRatios (\(reference) ops/sec ÷ engine ops/sec; > 1 = \(reference) faster):\n"
            + Format.left("benchmark", 18) + others.map { Format.right($0, width) }.joined() + "\n"
        for name in names {
            guard let base = find(reference, name), base.opsPerSecond > 0 else { continue }
            text += Format.left(name, 18) + others.map { engine in
                guard let other = find(engine, name), other.opsPerSecond > 0 else { return Format.right("-", width) }
                return Format.right(Format.fixed(base.opsPerSecond / other.opsPerSecond, 2), width)
            }.joined() + "\n"
        }
        text += "\nDisk after the last write benchmark, index bytes per key, peak RSS:\n"
        for engine in engines {
            let last = results.last { $0.engine == engine && ["fillrandom", "fillseq", "overwrite"].contains($0.name) }
            guard let last else { continue }
            text += Format.left(engine, 18) + Format.right(Format.bytes(last.diskBytes), 12) + " after "
                + Format.left(last.name, 11)
                + Format.right(last.indexBytesPerKey.map { Format.fixed($0, 1) + " B/key" } ?? "-", 14)
                + Format.right(Format.fixed(Double(last.process.peakRSSKB) / 1024, 0) + " MiB RSS", 14) + "\n"
        }
        return text
    }
}
