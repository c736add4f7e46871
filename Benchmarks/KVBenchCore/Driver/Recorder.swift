import Histogram

/// The operation types a latency table has a row for.
public enum OpKind: Int, CaseIterable, Sendable {
    case put, get, delete, scan, read, update, insert, readModifyWrite, open, backgroundPut, compaction, backup
    /// `--processes`: a reader process's open of the store, and the gets of reader processes in the background.
    case readerOpen, backgroundGet

    /// The row label (YCSB's names for YCSB operations).
    public var label: String {
        switch self {
        case .put: return "put"
        case .get: return "get"
        case .delete: return "delete"
        case .scan: return "next"
        case .read: return "read"
        case .update: return "update"
        case .insert: return "insert"
        case .readModifyWrite: return "rmw"
        case .open: return "open"
        case .backgroundPut: return "put (writer)"
        case .compaction: return "compaction"
        case .backup: return "backup"
        case .readerOpen: return "open (reader)"
        case .backgroundGet: return "get (readers)"
        }
    }

    /// Whether the benchmark's overall latency includes this operation (readwhilewriting's writer, the compactor,
    /// reader processes' opens and background reads do not count).
    var countsInOverall: Bool {
        switch self {
        case .backgroundPut, .compaction, .backup, .readerOpen, .backgroundGet: return false
        default: return true
        }
    }
}

/// One thread's counters and latency histograms. Owned by its thread; merged after the run.
struct Recorder {
    /// Operations done.
    var ops = 0
    /// Gets that found their key (or deletes that removed one, entries scanned).
    var found = 0
    /// Gets attempted (the "of N" in "(N of N found)").
    var attempted = 0
    /// Key and value bytes moved.
    var bytes: Int64 = 0
    /// Values of the wrong size, and other inconsistencies.
    var errors = 0
    /// Sum of first and last value bytes, so no engine can skip touching a value.
    var checksum: UInt64 = 0
    /// Operations of a background thread, not counted in `ops` (readwhilewriting's writer's puts).
    var backgroundOps = 0
    private(set) var histograms: [Histogram<UInt64>?] = Array(repeating: nil, count: OpKind.allCases.count)
    private let timeAll: Bool
    private let salt: UInt64

    /// A recorder that times every operation when `timeAll`, otherwise a pseudo-random 1/16 of them.
    init(timeAll: Bool, thread: Int) {
        self.timeAll = timeAll
        salt = UInt64(thread) << 40
    }

    /// Whether operation number `i` of this thread is timed: all of them, or those whose hashed number falls in
    /// 1/16 of the range (a fixed stride could alias with an engine's periodic work, as the peer baseline found).
    @inline(__always)
    func shouldTime(_ i: Int) -> Bool {
        timeAll || ((UInt64(truncatingIfNeeded: i) ^ salt) &* 0x9E37_79B9_7F4A_7C15) >> 60 == 0
    }

    /// Records one latency in nanoseconds.
    @inline(__always)
    mutating func record(_ kind: OpKind, nanos: UInt64) {
        if histograms[kind.rawValue] == nil { histograms[kind.rawValue] = Recorder.makeHistogram() }
        histograms[kind.rawValue]!.record(Swift.max(nanos, 1))
    }

    /// A histogram of nanoseconds from 1 ns to 1 hour at 3 significant digits.
    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000,
                          numberOfSignificantValueDigits: .three)
    }

    /// The recorder's figures, to send back to the main thread.
    var tally: Tally {
        var latencies: [OpKind: Histogram<UInt64>] = [:]
        for kind in OpKind.allCases { if let h = histograms[kind.rawValue] { latencies[kind] = h } }
        return Tally(ops: ops, found: found, attempted: attempted, bytes: bytes, errors: errors, checksum: checksum,
                     backgroundOps: backgroundOps, latencies: latencies)
    }
}

/// The merged figures of a benchmark's threads.
struct Tally: Sendable {
    var ops = 0
    var found = 0
    var attempted = 0
    var bytes: Int64 = 0
    var errors = 0
    var checksum: UInt64 = 0
    var backgroundOps = 0
    var latencies: [OpKind: Histogram<UInt64>] = [:]

    /// Adds another thread's figures.
    mutating func merge(_ other: Tally) {
        ops += other.ops
        found += other.found
        attempted += other.attempted
        bytes += other.bytes
        errors += other.errors
        checksum &+= other.checksum
        backgroundOps += other.backgroundOps
        for (kind, histogram) in other.latencies {
            if latencies[kind] == nil { latencies[kind] = histogram } else { latencies[kind]!.add(histogram) }
        }
    }

    /// The sum of several threads' figures.
    static func merged(_ tallies: [Tally]) -> Tally {
        var total = Tally()
        for t in tallies { total.merge(t) }
        return total
    }
}
