import KVBenchCore
import Testing

@Suite("JSON report")
struct JSONReportTests {
    @Test("keys are stable and complete")
    func keys() throws {
        var config = BenchConfig()
        config.num = 100
        config.engines = ["floor"]
        config.benchmarks = [.fillrandom, .readrandom, .ycsbE]
        config.showProgress = false
        let report = try BenchRunner(config: config, available: [FloorEngine.self]).run()
        let json = JSONReport.value(report)

        #expect(json.keys == ["schema", "date", "host", "config", "results", "skipped"])
        #expect(json["host"]?.keys == ["cpu", "cores", "os", "swift"])
        let configKeys = json["config"]?.keys ?? []
        for flag in ["benchmarks", "num", "reads", "key_size", "value_size", "compression_ratio", "threads", "processes",
                     "compression", "durability", "engines", "db", "use_existing_db", "seed", "duration", "cold",
                     "format", "output"] {
            #expect(configKeys.contains(flag), "config.\(flag)")
        }
        guard case .array(let results)? = json["results"], let first = results.first else {
            Issue.record("no results")
            return
        }
        #expect(results.count == 2)
        for key in ["engine", "name", "ops", "seconds", "ops_per_sec", "mb_per_sec", "found", "latency_us",
                    "peak_rss_kb", "peak_anon_kb", "vmsize_kb", "minor_faults", "major_faults", "disk_bytes", "index_bytes_per_key",
                    "processes", "writer_ops_per_sec", "background_reads_per_sec"] {
            #expect(first.keys.contains(key), "results[].\(key)")
        }
        #expect(first["latency_us"]?.keys == ["p50", "p90", "p99", "p999", "max"])
        #expect(first["engine"] == .string("floor"))
        #expect(first["found"] == .null)   // a write benchmark
        #expect(results[1]["found"] == .int(100))
        guard case .array(let skipped)? = json["skipped"] else { Issue.record("no skipped"); return }
        #expect(skipped.first?["name"] == .string("ycsb-e"))
    }

    @Test("rendering escapes strings and keeps key order")
    func rendering() {
        let value = JSONValue.object([
            ("b", .string("a\"b\\c\n\u{1}")), ("a", .array([.int(1), .double(0.5), .null, .bool(true)])),
            ("n", .double(.nan)),
        ])
        #expect(value.rendered() == #"{"b":"a\"b\\c\n\u0001","a":[1,0.5,null,true],"n":null}"#)
    }
}
