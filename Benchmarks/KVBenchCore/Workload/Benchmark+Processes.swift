/// How a benchmark runs with `--processes N` (N reader processes beside this one).
enum ProcessRole: Equatable {
    /// The measured operations run in the N reader processes; this process keeps the store open, as the writer.
    case readers(ReaderWorkload)
    /// The N reader processes do the measured readrandom while a thread of this process writes (readwhilewriting)
    /// or compacts (readwhilecompacting); the writer's rate is in the note.
    case readersBesideWriter, readersBesideCompactor
    /// This process writes, as without `--processes`, while the N reader processes do readrandom in the background
    /// until it is done: the result is the writer's; the readers' rate is in the note.
    case writerBesideReaders
    /// Runs in this process as without `--processes` (the store's own benchmarks).
    case unchanged
    /// Not run: the benchmark's operations include writes, and a reader process cannot write.
    case notApplicable
}

extension Benchmark {
    /// What `--processes` does with the benchmark.
    var processRole: ProcessRole {
        switch self {
        case .readrandom: return .readers(.readrandom)
        case .readmissing: return .readers(.readmissing)
        case .readhot: return .readers(.readhot)
        case .readseq: return .readers(.readseq)
        case .ycsbC: return .readers(.ycsbC)
        case .readwhilewriting: return .readersBesideWriter
        case .readwhilecompacting: return .readersBesideCompactor
        case .fillseq, .fillrandom, .overwrite, .update, .deleterandom, .fillsync: return .writerBesideReaders
        case .open, .recover, .rebuild, .compact, .backup: return .unchanged
        case .fillwhilebackingup: return .unchanged
        case .ycsbA, .ycsbB, .ycsbD, .ycsbE, .ycsbF: return .notApplicable
        }
    }
}
