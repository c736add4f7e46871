/// The benchmarks kvbench knows, by their db_bench / YCSB names.
public enum Benchmark: String, CaseIterable, Sendable {
    case fillseq, fillrandom, overwrite, update, readrandom, readmissing, readhot, readseq, deleterandom, fillsync
    case readwhilewriting
    case ycsbA = "ycsb-a", ycsbB = "ycsb-b", ycsbC = "ycsb-c", ycsbD = "ycsb-d", ycsbE = "ycsb-e", ycsbF = "ycsb-f"
    case open, recover, rebuild, compact
    case readwhilecompacting
    case backup, fillwhilebackingup

    /// The run order when `--benchmarks` is not given.
    public static let defaultList: [Benchmark] = [
        .fillseq, .fillrandom, .overwrite, .readrandom, .readmissing, .readhot, .readseq, .readwhilewriting,
        .ycsbA, .ycsbB, .ycsbC, .ycsbD, .ycsbF, .open, .rebuild, .readwhilecompacting, .compact, .deleterandom,
        .fillsync, .recover,
    ]

    /// One line of help.
    public var summary: String {
        switch self {
        case .fillseq: return "write --num keys in sequential order into a new store"
        case .fillrandom: return "write --num keys in random order into a new store"
        case .overwrite: return "write --num existing keys again, in random order"
        case .update: return "read-modify-write --num existing keys in random order (kvstore: Store.update, atomic; others: a get, then a put)"
        case .readrandom: return "get --reads keys in random order (each once when --reads ≤ --num)"
        case .readmissing: return "get --reads keys that are absent"
        case .readhot: return "get random keys among the first 1% of the key space"
        case .readseq: return "iterate over the whole store"
        case .deleterandom: return "remove --num keys in random order"
        case .fillsync: return "write --num/1000 keys into a new store, durability .sync, --threads writers"
        case .readwhilewriting: return "readrandom on --threads threads while one more thread overwrites"
        case .ycsbA: return "YCSB A: 50% read, 50% update, zipfian (--zipfian)"
        case .ycsbB: return "YCSB B: 95% read, 5% update, zipfian (--zipfian)"
        case .ycsbC: return "YCSB C: 100% read, zipfian (--zipfian)"
        case .ycsbD: return "YCSB D: 95% read, 5% insert, latest"
        case .ycsbE: return "YCSB E: needs ordered range scans (not available: N/A)"
        case .ycsbF: return "YCSB F: 50% read, 50% read-modify-write, zipfian (--zipfian)"
        case .open: return "open the store after a clean close"
        case .recover: return "a child process writes --num keys and is killed (SIGKILL); time the reopen"
        case .rebuild: return "rebuild the index from the data (kvstore: Store.rebuildIndex; hint files warmed first), timed (keys/s)"
        case .compact: return "compact every segment at least 25% dead; MB/s of live data rewritten, disk before and after"
        case .readwhilecompacting: return "readrandom on --threads threads while one more thread compacts, again and again"
        case .backup: return "a backup of the store (kvstore: Store.backup) beside cp of its active segment (cp -r of the store across file systems, --backup-dir), then an incremental one after --num/10 overwrites"
        case .fillwhilebackingup: return "fillrandom while one more thread backs the store up, again and again (compare with fillrandom)"
        }
    }

    /// Whether the benchmark starts from an empty store (it destroys the existing one).
    var startsFresh: Bool {
        switch self {
        case .fillseq, .fillrandom, .fillsync, .recover, .fillwhilebackingup: return true
        default: return false
        }
    }

    /// Whether the benchmark reads what is stored (and so warms or evicts the page cache first).
    var readsData: Bool {
        switch self {
        case .readrandom, .readmissing, .readhot, .readseq, .readwhilewriting, .readwhilecompacting,
             .ycsbA, .ycsbB, .ycsbC, .ycsbD, .ycsbF:
            return true
        default: return false
        }
    }

    /// The YCSB mix, for the ycsb-* benchmarks that kvbench can run.
    var ycsbMix: YCSBMix? {
        switch self {
        case .ycsbA: return YCSBMix(read: 0.5, update: 0.5, insert: 0, readModifyWrite: 0, distribution: .zipfian)
        case .ycsbB: return YCSBMix(read: 0.95, update: 0.05, insert: 0, readModifyWrite: 0, distribution: .zipfian)
        case .ycsbC: return YCSBMix(read: 1, update: 0, insert: 0, readModifyWrite: 0, distribution: .zipfian)
        case .ycsbD: return YCSBMix(read: 0.95, update: 0, insert: 0.05, readModifyWrite: 0, distribution: .latest)
        case .ycsbF: return YCSBMix(read: 0.5, update: 0, insert: 0, readModifyWrite: 0.5, distribution: .zipfian)
        default: return nil
        }
    }
}

/// The operation mix of a YCSB core workload (the `workloads/workload[a-f]` property files).
public struct YCSBMix: Sendable, Equatable {
    /// Key choice: YCSB's `requestdistribution`.
    public enum Distribution: Sendable { case zipfian, latest }

    /// `readproportion`.
    public var read: Double
    /// `updateproportion` (a put of a fresh value to an existing key).
    public var update: Double
    /// `insertproportion` (a put of a new key).
    public var insert: Double
    /// `readmodifywriteproportion` (a get then a put of the same key).
    public var readModifyWrite: Double
    /// `requestdistribution`.
    public var distribution: Distribution
}
