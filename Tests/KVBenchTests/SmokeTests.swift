#if canImport(Glibc)
import Glibc
#endif
import KVBenchCore
import Testing

/// Every benchmark at a tiny size against the root package's engines, in a temporary directory. No timing checks.
@Suite("Smoke runs", .serialized)
struct SmokeTests {
    static let num = 200

    /// The root package's kvbench, built next to the test bundle; `recover` re-runs it as its child.
    static var kvbenchExecutable: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        var directory = String(path[..<slash])
        // The test binary is either `<products>/X.xctest` or inside a bundle below the products directory.
        for _ in 0..<4 {
            let candidate = directory + "/kvbench"
            if access(candidate, X_OK) == 0 { return candidate }
            guard let up = directory.lastIndex(of: "/") else { break }
            directory = String(directory[..<up])
        }
        return nil
    }

    static func config(engine: String, benchmarks: [Benchmark]) -> BenchConfig {
        var config = BenchConfig()
        config.num = num
        config.engines = [engine]
        config.benchmarks = benchmarks
        config.showProgress = false
        config.childExecutable = kvbenchExecutable
        return config
    }

    @Test("every benchmark runs", arguments: ["kvstore", "floor"])
    func everyBenchmark(engine: String) throws {
        var benchmarks = Benchmark.defaultList + [.ycsbE]
        if Self.kvbenchExecutable == nil {
            benchmarks.removeAll { $0 == .recover }
            print("note: kvbench executable not found next to the tests; recover not exercised")
        }
        var text = ""
        let report = try BenchRunner(config: Self.config(engine: engine, benchmarks: benchmarks),
                                     available: [KVStoreEngine.self, FloorEngine.self])
            .run { text += $0 }

        #expect(report.skipped.filter { $0.reason.hasPrefix("failed") }.isEmpty, "\(report.skipped)")
        let names = report.results.map(\.name) + report.skipped.map(\.name)
        #expect(Set(names) == Set(benchmarks.map(\.rawValue)))
        #expect(report.skipped.contains { $0.name == "ycsb-e" && $0.reason.hasPrefix("N/A") })

        func result(_ name: String) -> BenchResult? { report.results.first { $0.name == name } }
        #expect(result("fillrandom")?.ops == Self.num)
        #expect(result("readrandom")?.found == Self.num)
        #expect(result("readrandom")?.attempted == Self.num)
        #expect(result("readmissing")?.found == 0)
        #expect(result("readhot")?.found == Self.num)
        #expect(result("readseq")?.found == Self.num)
        #expect(result("ycsb-c")?.found == result("ycsb-c")?.attempted)
        #expect(result("deleterandom")?.found == Self.num)
        #expect(result("rebuild")?.ops ?? 0 >= Self.num)
        #expect(report.results.allSatisfy { $0.errors == 0 })
        #expect(report.results.allSatisfy { $0.seconds >= 0 && $0.diskBytes >= 0 })
        #expect(result("readrandom")?.latency?.p50 ?? 0 > 0)
        if engine == "kvstore", let recover = result("recover") {
            // A write that returned survives the death of the process.
            #expect(recover.found == Self.num)
        }
        #expect(text.contains("micros/op"))
        #expect(text.contains("(\(Self.num) of \(Self.num) found)"))
        #expect(text.contains("p99.9"))
    }

    @Test("several threads, duration mode and cold reads run")
    func threadsDurationCold() throws {
        var config = Self.config(engine: "floor", benchmarks: [.fillrandom, .readrandom, .readwhilewriting, .ycsbD, .fillsync])
        config.engines = ["floor", "kvstore"]
        config.threads = 2
        config.cold = true
        let report = try BenchRunner(config: config, available: [KVStoreEngine.self, FloorEngine.self]).run()
        #expect(report.skipped.isEmpty, "\(report.skipped)")
        #expect(report.results.count == 10)
        #expect(report.results.filter { $0.name == "readrandom" }.allSatisfy { $0.found == Self.num })

        config.engines = ["floor"]
        config.benchmarks = [.fillrandom, .readrandom]
        config.duration = 0.05
        config.cold = false
        let timed = try BenchRunner(config: config, available: [FloorEngine.self]).run()
        #expect(timed.results.count == 2)
        #expect(timed.results.allSatisfy { $0.seconds >= 0.04 })
    }

    @Test("the ratio table compares against the first engine")
    func ratios() throws {
        var config = Self.config(engine: "kvstore", benchmarks: [.fillrandom, .readrandom])
        config.engines = ["kvstore", "floor"]
        var text = ""
        _ = try BenchRunner(config: config, available: [KVStoreEngine.self, FloorEngine.self]).run { text += $0 }
        #expect(text.contains("Ratios (kvstore ops/sec ÷ engine ops/sec"))
        #expect(text.contains("== floor"))
    }

    @Test("an unknown engine is refused")
    func unknownEngine() {
        var config = BenchConfig()
        config.engines = ["nope"]
        #expect(throws: BenchError.self) { try BenchRunner(config: config, available: [FloorEngine.self]) }
    }
}
