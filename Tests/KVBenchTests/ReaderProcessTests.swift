import KVBenchCore
import Testing

/// `--processes`: reader processes of the kvbench executable built next to the tests, beside the test process,
/// which keeps the store open for writing. No timing checks.
@Suite("Reader processes", .serialized,
       .enabled(if: SmokeTests.kvbenchExecutable != nil, "needs the kvbench executable next to the tests"))
struct ReaderProcessTests {
    static let num = 300

    static func config(processes: Int, benchmarks: [Benchmark]) -> BenchConfig {
        var config = SmokeTests.config(engine: "kvstore", benchmarks: benchmarks)
        config.num = Self.num
        config.processes = processes
        return config
    }

    @Test("readrandom in reader processes: the merged report has every operation asked for", arguments: [1, 2])
    func readrandom(processes: Int) throws {
        var config = Self.config(processes: processes, benchmarks: [.fillseq, .readrandom])
        config.threads = 2
        var text = ""
        let report = try BenchRunner(config: config, available: [KVStoreEngine.self]).run { text += $0 }
        #expect(report.skipped.isEmpty, "\(report.skipped)")
        let result = try #require(report.results.first { $0.name == "readrandom" })
        #expect(result.processes == processes)
        #expect(result.threads == processes * 2)
        #expect(result.ops == Self.num)
        #expect(result.attempted == Self.num)
        #expect(result.found == Self.num)
        #expect(result.errors == 0)
        // Below 500,000 operations every one is timed: the histograms came back whole from every process.
        #expect(result.latency?.count == Self.num)
        let opens = result.latencyByOperation.first { $0.operation == "open (reader)" }
        #expect(opens?.count == processes)
        #expect(text.contains("(\(Self.num) of \(Self.num) found)"))
        #expect(text.contains("\(processes) reader process"))

        let json = JSONReport.value(report)
        #expect(json["config"]?["processes"] == .int(processes))
        let first = json["results"]?.arrayValue?.first { $0["name"] == .string("readrandom") }
        #expect(first?["processes"] == .int(processes))
        #expect(first?["ops"] == .int(Self.num))
    }

    @Test("every read benchmark runs in reader processes, and a writer beside them")
    func everyRole() throws {
        let benchmarks: [Benchmark] = [.fillrandom, .readmissing, .readhot, .readseq, .ycsbC, .readwhilewriting,
                                       .readwhilecompacting, .overwrite, .ycsbA, .open]
        let report = try BenchRunner(config: Self.config(processes: 2, benchmarks: benchmarks),
                                     available: [KVStoreEngine.self]).run()
        func result(_ name: String) -> BenchResult? { report.results.first { $0.name == name } }
        #expect(report.skipped.filter(\.failed).isEmpty, "\(report.skipped)")
        #expect(report.skipped.map(\.name) == ["ycsb-a"])
        #expect(result("readmissing")?.found == 0)
        #expect(result("readhot")?.found == Self.num)
        #expect(result("readseq")?.found == 2 * Self.num)   // one full pass per process
        #expect(result("ycsb-c")?.found == Self.num)
        #expect(result("readwhilewriting")?.ops == Self.num)
        #expect(result("readwhilewriting")?.writerOpsPerSecond != nil)
        #expect(result("readwhilecompacting")?.ops == Self.num)
        // The writer's benchmarks: the result is the writer's, the readers read beside it.
        for name in ["fillrandom", "overwrite"] {
            #expect(result(name)?.ops == Self.num)
            #expect(result(name)?.processes == 2)
            #expect(result(name)?.backgroundReadsPerSecond != nil)
            #expect(result(name)?.latencyByOperation.contains { $0.operation == "get (readers)" } == true)
        }
        #expect(result("open")?.processes == nil)
        #expect(report.results.allSatisfy { $0.errors == 0 })
    }

    @Test("--processes is refused for an engine without reader processes")
    func refused() {
        #expect(throws: (any Error).self) { try KVBenchCommand.parse(["--engine", "floor", "--processes", "2"]) }
        #expect(throws: (any Error).self) { try KVBenchCommand.parse(["--processes", "-1"]) }
        #expect((try? KVBenchCommand.parse(["--engine", "kvstore", "--processes", "2"])) != nil)
    }
}
