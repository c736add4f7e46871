import Histogram

/// What one reader process of `kvbench --processes` sends back: its merged figures, when its threads ran (on
/// `CLOCK_MONOTONIC`, which every process of the machine shares), how long its open took, and its memory and page
/// faults. One JSON line.
struct ReaderReport: Sendable {
    var tally: Tally
    /// When its first thread was released and its last one ended, in `monotonicNanos()`.
    var start: UInt64
    var end: UInt64
    /// Nanoseconds the engine's `openReader` took.
    var openNanos: UInt64
    /// Its peak RSS and VmSize at the end, and the page faults of its run (after the open).
    var process: ProcessSnapshot
    /// What its store mapped at the end, and its maps and unmaps during the run; nil for engines without a mapping
    /// budget.
    var mapping: MappingFigures?

    init(tally: Tally, start: UInt64, end: UInt64, openNanos: UInt64, process: ProcessSnapshot,
         mapping: MappingFigures? = nil) {
        self.tally = tally
        self.start = start
        self.end = end
        self.openNanos = openNanos
        self.process = process
        self.mapping = mapping
    }

    var json: JSONValue {
        .object([
            ("ops", .int(tally.ops)), ("found", .int(tally.found)), ("attempted", .int(tally.attempted)),
            ("bytes", .int(Int(tally.bytes))), ("errors", .int(tally.errors)),
            ("checksum", .int(Int(truncatingIfNeeded: tally.checksum))),
            ("start_ns", .int(Int(truncatingIfNeeded: start))), ("end_ns", .int(Int(truncatingIfNeeded: end))),
            ("open_ns", .int(Int(truncatingIfNeeded: openNanos))),
            ("peak_rss_kb", .int(process.peakRSSKB)), ("peak_anon_kb", .int(process.peakAnonKB)), ("vmsize_kb", .int(process.vmSizeKB)),
            ("minor_faults", .int(process.minorFaults)), ("major_faults", .int(process.majorFaults)),
            ("mapping", mapping.map { m in
                .object([("mapped_bytes", .int(m.mappedBytes)), ("mapped_segments", .int(m.mappedSegments)),
                         ("segment_maps", .int(m.segmentMaps)), ("segment_unmaps", .int(m.segmentUnmaps))])
            } ?? .null),
            ("latency_ns", .object(OpKind.allCases.compactMap { kind in
                tally.latencies[kind].map { (kind.label, Self.encode($0)) }
            })),
        ])
    }

    /// The report in `json` (what `json` rendered).
    init(json: JSONValue) throws {
        func int(_ key: String) throws -> Int {
            guard let value = json[key]?.intValue else { throw BenchError("reader report: no integer \"\(key)\"") }
            return value
        }
        var tally = Tally(ops: try int("ops"), found: try int("found"), attempted: try int("attempted"),
                          bytes: Int64(try int("bytes")), errors: try int("errors"),
                          checksum: UInt64(bitPattern: Int64(try int("checksum"))))
        guard case .object(let latencies)? = json["latency_ns"] else {
            throw BenchError("reader report: no latency_ns")
        }
        for (label, buckets) in latencies {
            guard let kind = OpKind.allCases.first(where: { $0.label == label }) else {
                throw BenchError("reader report: unknown operation \"\(label)\"")
            }
            tally.latencies[kind] = try Self.decode(buckets)
        }
        var mapping: MappingFigures? = nil
        if let figures = json["mapping"], figures != .null {
            func count(_ key: String) throws -> Int {
                guard let value = figures[key]?.intValue else { throw BenchError("reader report: no mapping.\(key)") }
                return value
            }
            mapping = MappingFigures(mappedBytes: try count("mapped_bytes"), mappedSegments: try count("mapped_segments"),
                                     segmentMaps: try count("segment_maps"), segmentUnmaps: try count("segment_unmaps"))
        }
        self.init(tally: tally, start: UInt64(bitPattern: Int64(try int("start_ns"))),
                  end: UInt64(bitPattern: Int64(try int("end_ns"))),
                  openNanos: UInt64(bitPattern: Int64(try int("open_ns"))),
                  process: ProcessSnapshot(peakRSSKB: try int("peak_rss_kb"), vmSizeKB: try int("vmsize_kb"),
                                           minorFaults: try int("minor_faults"), majorFaults: try int("major_faults"),
                                           peakAnonKB: (try? int("peak_anon_kb")) ?? 0),
                  mapping: mapping)
    }

    /// A histogram as `[[value, count], …]`, one pair per non-empty bucket (its highest equivalent value, which
    /// records into the same bucket again), with the exact maximum as a pair of its own so that it survives.
    static func encode(_ histogram: Histogram<UInt64>) -> JSONValue {
        let max = histogram.max
        var pairs: [JSONValue] = []
        var maxBucketSeen = false
        for bucket in histogram.recordedValues() {
            var count = bucket.count
            if !maxBucketSeen && histogram.valuesAreEquivalent(bucket.value, max) {
                maxBucketSeen = true
                count -= 1
            }
            if count > 0 { pairs.append(.array([.int(Int(bucket.value)), .int(Int(count))])) }
        }
        if histogram.totalCount > 0 { pairs.append(.array([.int(Int(max)), .int(1)])) }
        return .array(pairs)
    }

    /// The histogram `encode` wrote.
    static func decode(_ value: JSONValue) throws -> Histogram<UInt64> {
        guard let pairs = value.arrayValue else { throw BenchError("reader report: a histogram is not an array") }
        var histogram = Recorder.makeHistogram()
        for pair in pairs {
            guard let items = pair.arrayValue, items.count == 2, let value = items[0].intValue, value > 0,
                  let count = items[1].intValue, count > 0 else {
                throw BenchError("reader report: a histogram bucket is not [value, count]")
            }
            histogram.record(UInt64(value), count: UInt64(count))
        }
        return histogram
    }
}
