/// What a reader process of `kvbench --processes` reads.
public enum ReaderWorkload: String, Sendable, CaseIterable {
    /// Measured: the benchmark of the same name, its share of `--reads` operations.
    case readrandom, readmissing, readhot, readseq
    /// Measured: YCSB C (100% reads, zipfian as `--zipfian` says).
    case ycsbC = "ycsb-c"
    /// Not measured: readrandom until the parent says stop, beside the parent's write benchmark.
    case background
}

/// The job the parent gives one reader process (`kvbench reader-child <job>`), passed as one JSON argument.
struct ReaderJob: Sendable, Equatable {
    var engine: String
    var directory: String
    var workload: ReaderWorkload
    /// This process's number, 0..<processes.
    var process: Int
    var processes: Int
    /// Threads in this process.
    var threads: Int
    /// Operations of every process together (shared out as `share(of:thread:threads:)` over all their threads).
    var operations: Int
    var num: Int
    var keySize: Int
    var valueSize: Int
    var compression: CompressionSetting
    var seed: UInt64
    /// `--duration` in seconds (0: fixed counts).
    var duration: Double
    /// Time every operation rather than a hashed 1/16.
    var timeAll: Bool
    /// `--mapping-budget` in bytes (nil: the engine's default).
    var mappingBudget: Int? = nil
    /// `--zipfian` (ycsb-c).
    var zipfian: ZipfianOrder = .scrambled

    /// Thread `thread` of this process among the threads of all processes (for its share and its random stream).
    func globalThread(_ thread: Int) -> Int { process * threads + thread }

    /// The options the reader opens the store with.
    var engineOptions: EngineOptions {
        var options = EngineOptions(compression: compression, durability: .process, expectedKeys: num,
                                    keySize: keySize, valueSize: valueSize)
        options.mappingBudget = mappingBudget
        return options
    }

    var json: JSONValue {
        .object([
            ("engine", .string(engine)), ("directory", .string(directory)), ("workload", .string(workload.rawValue)),
            ("process", .int(process)), ("processes", .int(processes)), ("threads", .int(threads)),
            ("operations", .int(operations)), ("num", .int(num)), ("key_size", .int(keySize)),
            ("value_size", .int(valueSize)), ("compression", .string(compression.rawValue)),
            ("seed", .int(Int(truncatingIfNeeded: seed))), ("duration", .double(duration)),
            ("time_all", .bool(timeAll)), ("mapping_budget", mappingBudget.map { .int($0) } ?? .null),
            ("zipfian", .string(zipfian.rawValue)),
        ])
    }

    init(engine: String, directory: String, workload: ReaderWorkload, process: Int, processes: Int, threads: Int,
         operations: Int, num: Int, keySize: Int, valueSize: Int, compression: CompressionSetting, seed: UInt64,
         duration: Double, timeAll: Bool) {
        self.engine = engine
        self.directory = directory
        self.workload = workload
        self.process = process
        self.processes = processes
        self.threads = threads
        self.operations = operations
        self.num = num
        self.keySize = keySize
        self.valueSize = valueSize
        self.compression = compression
        self.seed = seed
        self.duration = duration
        self.timeAll = timeAll
    }

    /// The job in `json` (what `json` rendered).
    init(json: JSONValue) throws {
        func field(_ key: String) throws -> JSONValue {
            guard let value = json[key] else { throw BenchError("reader job: no \"\(key)\"") }
            return value
        }
        func int(_ key: String) throws -> Int {
            guard let value = try field(key).intValue else { throw BenchError("reader job: \(key) is not an integer") }
            return value
        }
        func string(_ key: String) throws -> String {
            guard let value = try field(key).stringValue else { throw BenchError("reader job: \(key) is not a string") }
            return value
        }
        guard let workload = ReaderWorkload(rawValue: try string("workload")) else {
            throw BenchError("reader job: unknown workload")
        }
        guard let compression = CompressionSetting(rawValue: try string("compression")) else {
            throw BenchError("reader job: unknown compression")
        }
        guard let duration = try field("duration").doubleValue else { throw BenchError("reader job: bad duration") }
        self.init(engine: try string("engine"), directory: try string("directory"), workload: workload,
                  process: try int("process"), processes: try int("processes"), threads: try int("threads"),
                  operations: try int("operations"), num: try int("num"), keySize: try int("key_size"),
                  valueSize: try int("value_size"), compression: compression,
                  seed: UInt64(bitPattern: Int64(try int("seed"))), duration: duration,
                  timeAll: try field("time_all") == .bool(true))
        switch json["mapping_budget"] {
        case nil, .null?: mappingBudget = nil
        case let value?:
            guard let bytes = value.intValue, bytes >= 0 else { throw BenchError("reader job: bad mapping_budget") }
            mappingBudget = bytes
        }
        if let name = json["zipfian"] {
            guard let order = name.stringValue.flatMap(ZipfianOrder.init(rawValue:)) else {
                throw BenchError("reader job: unknown zipfian")
            }
            zipfian = order
        }
    }
}
