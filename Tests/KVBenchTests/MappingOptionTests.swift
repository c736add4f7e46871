@testable import KVBenchCore
import Testing

/// `--mapping-budget`, `--zipfian` and the mapping figures of the report. No timing checks: whether the background
/// policy has mapped a segment by the end of a benchmark depends on time, so only what holds either way is checked.
@Suite("Mapping budget and zipfian options")
struct MappingOptionTests {
    @Test("byte counts: plain integers and K/M/G, KiB/MiB/GiB suffixes")
    func byteCounts() {
        #expect(ByteCount.parse("0") == 0)
        #expect(ByteCount.parse("4096") == 4096)
        #expect(ByteCount.parse("64K") == 64 << 10)
        #expect(ByteCount.parse("64KiB") == 64 << 10)
        #expect(ByteCount.parse("256M") == 256 << 20)
        #expect(ByteCount.parse("256MiB") == 256 << 20)
        #expect(ByteCount.parse("256mib") == 256 << 20)
        #expect(ByteCount.parse("1G") == 1 << 30)
        #expect(ByteCount.parse("2GiB") == 2 << 30)
        for bad in ["", "K", "MiB", "-1", "+1", "1.5M", "1 M", "1T", "1KB", "12X", "0x10", "99999999999999G"] {
            #expect(ByteCount.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("--mapping-budget: default, 0 or bytes, into every engine's options")
    func mappingBudget() throws {
        let absent = try KVBenchCommand.parse([]).makeConfig()
        #expect(absent.mappingBudget == .engineDefault)
        #expect(absent.engineOptions().mappingBudget == nil)
        #expect(absent.mappingBudgetBytes == KVStoreEngine.defaultMappingBudget)
        #expect(KVStoreEngine.mappingBudget(absent.engineOptions()) == KVStoreEngine.defaultMappingBudget)
        #expect(try KVBenchCommand.parse(["--mapping-budget", "default"]).makeConfig().mappingBudget == .engineDefault)

        let zero = try KVBenchCommand.parse(["--mapping-budget", "0"]).makeConfig()
        #expect(zero.mappingBudget == .bytes(0))
        #expect(zero.engineOptions(durability: .sync).mappingBudget == 0)
        #expect(KVStoreEngine.mappingBudget(zero.engineOptions()) == 0)

        let given = try KVBenchCommand.parse(["--mapping-budget", "64MiB"]).makeConfig()
        #expect(given.mappingBudget == .bytes(64 << 20))
        #expect(given.mappingBudgetBytes == 64 << 20)
        #expect(KVStoreEngine.mappingBudget(given.engineOptions()) == 64 << 20)

        for bad in ["-1", "12X", "1.5G", ""] {
            #expect(throws: (any Error).self, "\(bad)") { try KVBenchCommand.parse(["--mapping-budget", bad]) }
        }
        #expect(MappingBudgetSetting(parsing: MappingBudgetSetting.bytes(123).description) == .bytes(123))
        #expect(MappingBudgetSetting(parsing: MappingBudgetSetting.engineDefault.description) == .engineDefault)
    }

    @Test("the budget reaches reader processes and recover's child")
    func childProcesses() throws {
        var job = ReaderJob(engine: "kvstore", directory: "/tmp/x", workload: .ycsbC, process: 0, processes: 1,
                            threads: 1, operations: 10, num: 10, keySize: 16, valueSize: 100, compression: .none,
                            seed: 1, duration: 0, timeAll: true)
        #expect(try ReaderJob(json: job.json).engineOptions.mappingBudget == nil)
        job.mappingBudget = 0
        job.zipfian = .ordered
        let back = try ReaderJob(json: try JSONValue.parse(job.json.rendered()))
        #expect(back == job)
        #expect(back.engineOptions.mappingBudget == 0)
        #expect(back.zipfian == .ordered)

        var config = BenchConfig()
        config.mappingBudget = .bytes(1 << 20)
        let arguments = RecoverChild.arguments(engine: "kvstore", directory: "/tmp/x", config: config)
        #expect(arguments.first == "recover-child")
        let child = try RecoverChildCommand.parse(Array(arguments.dropFirst()))
        #expect(child.mappingBudget == .bytes(1 << 20))
        config.mappingBudget = .engineDefault
        let byDefault = RecoverChild.arguments(engine: "kvstore", directory: "/tmp/x", config: config)
        #expect(try RecoverChildCommand.parse(Array(byDefault.dropFirst())).mappingBudget == .engineDefault)
    }

    @Test("--zipfian: scrambled by default, ordered on request, anything else refused")
    func zipfianOption() throws {
        #expect(try KVBenchCommand.parse([]).makeConfig().zipfian == .scrambled)
        #expect(try KVBenchCommand.parse(["--zipfian", "ordered"]).makeConfig().zipfian == .ordered)
        #expect(try KVBenchCommand.parse(["--zipfian", "scrambled"]).makeConfig().zipfian == .scrambled)
        #expect(throws: (any Error).self) { try KVBenchCommand.parse(["--zipfian", "hashed"]) }
        #expect(KVBenchCommand.helpMessage().contains("--zipfian"))
        #expect(KVBenchCommand.helpMessage().contains("--mapping-budget"))
    }

    @Test("ordered zipfian: key 0 is the hottest, then 1, …; scrambled spreads the hot keys")
    func zipfianKeys() {
        let count = 10_000, samples = 200_000
        func histogram(_ order: ZipfianOrder) -> [Int] {
            var keys = ZipfianKeys(order, count: UInt64(count))
            var random = SplitMix64(seed: 5)
            var counts = [Int](repeating: 0, count: count)
            for _ in 0..<samples { counts[Int(keys.next(using: &random))] += 1 }
            return counts
        }
        let ordered = histogram(.ordered)
        #expect(ordered.firstIndex(of: ordered.max()!) == 0)
        #expect(ordered[0] > ordered[1] && ordered[1] > ordered[10] && ordered[10] > ordered[1000])
        // The lowest 1% of the key numbers get far more than 1% of the requests.
        #expect(Double(ordered.prefix(count / 100).reduce(0, +)) / Double(samples) > 0.3)

        let scrambled = histogram(.scrambled)
        #expect(Double(scrambled.prefix(count / 100).reduce(0, +)) / Double(samples) < 0.1)
        let hottest = scrambled.enumerated().sorted { $0.element > $1.element }.prefix(10)
        #expect(hottest.contains { $0.offset > count / 100 })
    }
}

@Suite("Mapping figures in the report", .serialized)
struct MappingReportTests {
    @Test("since() and sum()")
    func figures() {
        let before = MappingFigures(mappedBytes: 10, mappedSegments: 1, segmentMaps: 3, segmentUnmaps: 1)
        let after = MappingFigures(mappedBytes: 20, mappedSegments: 2, segmentMaps: 5, segmentUnmaps: 2)
        #expect(after.since(before) == MappingFigures(mappedBytes: 20, mappedSegments: 2, segmentMaps: 2,
                                                      segmentUnmaps: 1))
        #expect(after.since(nil) == after)
        #expect(MappingFigures.sum([]) == nil)
        #expect(MappingFigures.sum([before, after]) == MappingFigures(mappedBytes: 30, mappedSegments: 3,
                                                                       segmentMaps: 8, segmentUnmaps: 3))
    }

    @Test("a reader process's report carries its mapping figures")
    func readerReport() throws {
        let mapping = MappingFigures(mappedBytes: 64 << 20, mappedSegments: 1, segmentMaps: 1, segmentUnmaps: 0)
        let process = ProcessSnapshot(peakRSSKB: 1, vmSizeKB: 2, minorFaults: 3, majorFaults: 4)
        let report = ReaderReport(tally: Tally(ops: 1), start: 1, end: 2, openNanos: 3, process: process,
                                  mapping: mapping)
        let back = try ReaderReport(json: try JSONValue.parse(report.json.rendered()))
        #expect(back.mapping == mapping)
        #expect(back.process == process)
        let none = ReaderReport(tally: Tally(ops: 1), start: 1, end: 2, openNanos: 3, process: process)
        #expect(try ReaderReport(json: none.json).mapping == nil)
        let merged = ReaderFigures([back, back])
        #expect(merged.mapping?.mappedBytes == 128 << 20)
        #expect(merged.mapping?.segmentMaps == 2)
        #expect(merged.process.minorFaults == 6)
        #expect(ReaderFigures([none]).mapping == nil)
    }

    @Test("the text line gives the memory, page faults and mapping")
    func textLine() {
        var result = BenchResult(
            engine: "kvstore", name: "readrandom", threads: 1, ops: 10, seconds: 1, bytes: 0, found: 10, attempted: 10,
            errors: 0, latency: nil, latencyByOperation: [],
            process: ProcessSnapshot(peakRSSKB: 2048, vmSizeKB: 1 << 20, minorFaults: 12, majorFaults: 3),
            diskBytes: 0, indexBytesPerKey: nil)
        #expect(!TextReport.result(result).contains("mapped"))
        #expect(TextReport.result(result).contains("page faults 12 minor, 3 major"))
        #expect(TextReport.result(result).contains("VmSize 1.00 GiB"))
        result.mapping = MappingFigures(mappedBytes: 64 << 20, mappedSegments: 1, segmentMaps: 1, segmentUnmaps: 0)
        #expect(TextReport.result(result).contains(
            "mapped 64.0 MiB in 1 segment at the end, 1 map and 0 unmaps during"))
    }

    static func config(engines: [String], budget: MappingBudgetSetting) -> BenchConfig {
        var config = SmokeTests.config(engine: engines[0], benchmarks: [.fillseq, .readrandom, .ycsbC, .overwrite])
        config.engines = engines
        config.num = 300
        config.mappingBudget = budget
        config.zipfian = .ordered
        return config
    }

    @Test("JSON and text: mapping figures for kvstore, null for the floor; the budget in the config")
    func report() throws {
        var text = ""
        let config = Self.config(engines: ["kvstore", "floor"], budget: .bytes(64 << 20))
        let report = try BenchRunner(config: config, available: [KVStoreEngine.self, FloorEngine.self])
            .run { text += $0 }
        #expect(report.skipped.isEmpty, "\(report.skipped)")
        let json = JSONReport.value(report)
        #expect(json["config"]?["mapping_budget"] == .int(64 << 20))
        #expect(json["config"]?["mapping_budget_setting"] == .string(String(64 << 20)))
        #expect(json["config"]?["zipfian"] == .string("ordered"))
        let results = try #require(json["results"]?.arrayValue)
        #expect(results.count == 8)
        for result in results {
            let kvstore = result["engine"] == .string("kvstore")
            for key in ["mapped_bytes", "mapped_segments", "segment_maps", "segment_unmaps"] {
                let value = try #require(result[key], "results[].\(key)")
                if kvstore {
                    #expect((value.intValue ?? -1) >= 0, "\(key): \(value)")
                } else {
                    #expect(value == .null, "\(key)")
                }
            }
            #expect(result["minor_faults"]?.intValue != nil)
            #expect(result["major_faults"]?.intValue != nil)
            #expect((result["mapped_bytes"]?.intValue ?? 0) <= 64 << 20)
        }
        for result in report.results where result.engine == "kvstore" {
            let mapping = try #require(result.mapping)
            #expect((mapping.mappedBytes == 0) == (mapping.mappedSegments == 0))
            #expect(result.process.minorFaults >= 0 && result.process.majorFaults >= 0)
        }
        #expect(report.results.filter { $0.engine == "floor" }.allSatisfy { $0.mapping == nil })
        #expect(report.results.first { $0.name == "ycsb-c" }?.found == 300)
        #expect(text.contains("mapping budget 64.0 MiB, zipfian ordered"))
        #expect(text.contains("at the end,"))
        #expect(text.contains("page faults"))
    }

    @Test("budget 0: nothing is mapped, in kvbench's process or in reader processes")
    func zeroBudget() throws {
        var config = Self.config(engines: ["kvstore"], budget: .bytes(0))
        // A sealed segment: 300 values of 256 KiB are more than one 64 MiB segment.
        config.valueSize = 256 << 10
        config.benchmarks = [.fillseq, .readrandom]
        let report = try BenchRunner(config: config, available: [KVStoreEngine.self]).run()
        #expect(report.skipped.isEmpty, "\(report.skipped)")
        #expect(report.results.allSatisfy {
            $0.mapping == MappingFigures(mappedBytes: 0, mappedSegments: 0, segmentMaps: 0, segmentUnmaps: 0)
        })
        #expect(JSONReport.value(report)["config"]?["mapping_budget_setting"] == .string("0"))

        guard SmokeTests.kvbenchExecutable != nil else { return }
        config.processes = 1
        let readers = try BenchRunner(config: config, available: [KVStoreEngine.self]).run()
        #expect(readers.skipped.isEmpty, "\(readers.skipped)")
        let reads = try #require(readers.results.first { $0.name == "readrandom" })
        #expect(reads.processes == 1)
        #expect(reads.mapping == MappingFigures(mappedBytes: 0, mappedSegments: 0, segmentMaps: 0, segmentUnmaps: 0))
    }
}
