#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// How values are stored on disk.
    public enum Compression: Sendable, Hashable {
        /// Values are stored as given.
        case none
        /// Each value is LZ4-compressed on its own, and stored compressed only when that makes it
        /// smaller. A get still costs one read; decompression happens in memory.
        ///
        /// Small values share their redundancy across records, not within one, so the store
        /// trains a *dictionary* from its own values (after the first 256 KiB of them, and again
        /// when the data drifts) and compresses against it: on the Debian package index, values
        /// of 0.2–3 KB take 0.49 of their size instead of 0.80. See
        /// ``Configuration-swift.struct/trainsDictionaries`` and <doc:Compression>.
        case lz4
    }

    /// When a write that returned is safe from what.
    ///
    /// In every mode, a write that returned survives the death of the process (`kill -9`): it is in
    /// the operating system's page cache the moment it returns. The modes differ in when it also
    /// survives the loss of power. See <doc:Durability>.
    public enum Durability: Sendable, Hashable {
        /// Writes reach the disk when the operating system writes them back, when a segment fills
        /// up, on ``Store/sync()-2vpo9`` and on ``Store/close()-8zwz6``. The fastest mode.
        case process
        /// Every write returns only once it is on disk (`fdatasync`). Concurrent writers share
        /// one sync (group commit).
        case sync
        /// Writes are synced in the background at least every given interval.
        case periodic(Duration)
    }

    /// Where a writer keeps the hash index while the store is open.
    ///
    /// The index takes about 32 bytes per key, and every put writes to a random page of it. Kept
    /// in a file of the store directory, those pages are written back by the kernel while the
    /// store runs, and each later write to a page written back takes a fault: past the kernel's
    /// dirty-memory threshold (a tenth of memory by default), which a 3 GB index of 100 M keys
    /// passes, that is most of a put's time (fill at 100 M keys: 0.16–0.19 × the rate at 1 M).
    /// In shared memory (`/dev/shm`, a memory file system), nothing is written back while the store
    /// is open. The store directory then holds `index` as a symbolic link to that file; a clean
    /// close writes the index back into the directory as a regular file. A process that dies
    /// (`kill -9`) leaves the shared-memory file, and the next open in the same boot uses it as it
    /// would the file; after a reboot it is gone and the index is rebuilt from the hint files, as
    /// it is for an index left open before a power loss either way. See <doc:MappingAndMemory>.
    ///
    /// ```swift
    /// var configuration = Store.Configuration()
    /// configuration.indexPlacement = .file   // never in /dev/shm
    /// ```
    public enum IndexPlacement: Sendable, Hashable {
        /// In shared memory when the index is at least 64 MiB (about 2 M keys), `/dev/shm` is a
        /// memory file system with room for it and 64 MiB more, and it takes at most a quarter of
        /// physical memory; in the store directory otherwise.
        case automatic
        /// In shared memory whenever `/dev/shm` is a memory file system with room for it; in the
        /// store directory otherwise.
        case sharedMemory
        /// Always in the store directory, mapped.
        case file
    }

    /// Settings for opening a ``Store``. Every field has a default.
    ///
    /// ```swift
    /// var configuration = Store.Configuration()
    /// configuration.compression = .lz4
    /// configuration.durability = .periodic(.milliseconds(100))
    /// let store = try Store(path: "/var/lib/app/kv", configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// How values are stored. Default: ``Compression/none``. Stores can mix both: each record
        /// says how it was written.
        public var compression: Compression = .none
        /// With ``Compression/lz4``, whether the store trains compression dictionaries from its
        /// values and compresses against them. Default: `true`. A store that has used one
        /// carries an incompatible feature: builds before format 1.2 refuse to open it. Set to
        /// `false` for plain per-record LZ4 only (values already compressed against a dictionary
        /// stay readable either way).
        public var trainsDictionaries = true
        /// How long opening a store waits for another process that has it open for writing to
        /// close it. Default: zero, fail at once with ``KVError/Code/locked``, whose message names
        /// the holder's pid when the system says (`/proc/locks`). Read-only opens never wait: they
        /// take no lock.
        ///
        /// ```swift
        /// configuration.lockWait = .seconds(5)   // a deploy's old process is still closing
        /// ```
        public var lockWait: Duration = .zero
        /// When writes are made durable. Default: ``Durability/process``.
        public var durability: Durability = .process
        /// The size at which the active segment file is sealed and a new one started, in bytes.
        /// Default: 64 MiB. Between 64 KiB and 2 GiB. A single record larger than this gets a
        /// segment of its own.
        public var segmentSize: Int = 64 << 20
        /// How many keys the store is expected to hold; 0 (the default) for no estimate. The index
        /// is created (or grown once, on open) large enough for this many keys, so that filling the
        /// store does not pay for growing it step by step. It still grows past it when needed.
        /// Costs 32 bytes of index file per expected key.
        public var expectedKeyCount: Int = 0
        /// How many segment files the store keeps open at once for reading, like LevelDB's
        /// `max_open_files`; `nil` (the default) for a quarter of the process's descriptor limit
        /// (`ulimit -n`), between 16 and 1,000. A segment whose descriptor is not open is opened on
        /// demand and the least recently used one is closed, so a store of any number of segments
        /// opens and reads within the limit. The segment being written, and segments not yet
        /// synced, are kept open beyond it (usually one or two). At least 4.
        public var maximumOpenFiles: Int? = nil
        /// Bytes of sealed segment files this handle may keep mapped for reads at once. Default:
        /// 1 GiB, or an eighth of the machine's memory when that is less. `0`: sealed segments
        /// are never mapped and every get reads its record with `pread`.
        ///
        /// Gets count how often each segment is read; in the background, the segments with the
        /// most reads per byte are mapped within the budget (within about a second of reads
        /// starting), and a get from a mapped segment reads the record in place: no system call,
        /// and `Store.withValue(forKey:_:)` hands over the mapped bytes without a copy. A
        /// mapping is given up only for a hotter segment, when compaction retires the segment, or
        /// at close, and never while a get is reading it. In the writing process the segment
        /// being written is read in place too, through the writer's own mapping (unless the budget
        /// is 0); it does not count against the budget.
        ///
        /// Why 0 exists: a disk error under a mapped page is not an error a get can throw but
        /// `SIGBUS`, which kills the process. With a budget of 0 a failing disk turns into
        /// ``KVError/Code/io`` errors instead. See <doc:MappingAndMemory>.
        public var mappingBudget: Int = Configuration.defaultMappingBudget
        /// Locks the index in memory (`mlock`), so that no probe of it ever waits for the disk.
        /// Default: `false`. Opening (and growing the index) fails with
        /// ``KVError/Code/resourceLimit`` when the index is larger than what the process may lock
        /// (`RLIMIT_MEMLOCK`, `ulimit -l`). Without it, the index is advised for random access and,
        /// when it fits in memory, read ahead into the page cache at open.
        public var lockIndexInMemory: Bool = false
        /// Where a writer keeps the index while the store is open. Default: ``IndexPlacement/automatic``.
        ///
        /// ```swift
        /// var configuration = Store.Configuration()
        /// configuration.expectedKeyCount = 100_000_000
        /// configuration.indexPlacement = .sharedMemory   // 3.1 GB in /dev/shm while open
        /// ```
        public var indexPlacement: IndexPlacement = .automatic
        /// Opens a **live reader**: without taking the store's lock and without changing any
        /// file, whether or not another process (or this one) has the store open for writing.
        /// Reads, cursors, statistics and ``Store/verify()`` work; writes throw
        /// ``KVError/Code/readOnly``. A reader needs only read permission on the store, never
        /// keeps a writer out, and sees every write that returned in the writer before a read
        /// began. When no writer is alive and the index was not closed cleanly, the index is
        /// rebuilt privately (a temporary file outside the store) for the life of the handle, until
        /// a writer opens the store. ``Store/access-swift.property`` says which; see
        /// <doc:SharingBetweenProcesses>.
        public var readOnly: Bool = false
        /// Compaction that runs on its own after a segment is sealed, with these thresholds; `nil`
        /// to compact only when ``Store/compact(_:)`` is called. Default: segments at least 50% and
        /// 16 MiB dead, copied at most at 64 MiB/s.
        public var automaticCompaction: CompactionOptions? = {
            var options = CompactionOptions()
            options.minimumDeadRatio = 0.5
            options.minimumDeadBytes = 16 << 20
            options.maximumBytesPerSecond = 64 << 20
            return options
        }()

        /// Called while an open rebuilds the index from the log (a missing or untrusted index, or
        /// ``Store/rebuildIndex(at:configuration:)``): after each segment, and every 2^20 records
        /// within a long one, on the opening thread. `nil` (the default): nothing is reported.
        /// A rebuild reads about 20 bytes + key per record from the hint files, once per pass
        /// (``RebuildProgress/passes``); at 100 M keys it takes minutes, which is what this is for.
        public var rebuildProgress: (@Sendable (RebuildProgress) -> Void)? = nil

        /// Test seams, not public API.
        /// The memory file system a writer puts a large index in (``indexPlacement``).
        var sharedMemoryDirectory = "/dev/shm"
        var hasher: KeyHasher? = nil
        var bootID: [UInt8]? = nil
        /// Rebuild the index from the log on open whatever the existing one says (under the lock,
        /// so no other process can race the rebuild). For a library call that rebuilds the index.
        var rebuildIndex = false
        /// Map every sealed segment at once, read or not (``MappingManager``).
        var mapsEverySealedSegment = false
        /// Mapping decisions on the manager's thread; tests that call `decideNow()` turn it off.
        var decidesMappingsInBackground = true
        /// The most a rebuild holds of the new table in private memory at once (``RebuildWindows``);
        /// `nil`: 8 bytes per key. Tests make it (and the spill) small to build a small store in
        /// several windows.
        var rebuildWindowBytes: Int? = nil
        var rebuildWindowSpill = RebuildWindows.defaultSpill

        /// A configuration with every default.
        public init() {
            #if KVSTORE_FAULT_HOOKS
            // Debug builds: the suites that read damaged, torn and crashed stores run a second time
            // with every sealed segment mapped (`.ci/run`), their child processes too.
            if getenv("KVSTORE_TEST_MAP_EVERYTHING") != nil {
                mappingBudget = 1 << 40
                mapsEverySealedSegment = true
            }
            #endif
        }

        /// 1 GiB, or an eighth of physical memory when that is less (at least 64 MiB).
        public static var defaultMappingBudget: Int {
            let physical = Sys.physicalMemory()
            return physical > 0 ? max(64 << 20, min(1 << 30, physical / 8)) : 1 << 30
        }

        func validate() throws(KVError) {
            guard mappingBudget >= 0 else { throw KVError(.invalidArgument, "mappingBudget must be 0 or more") }
            guard segmentSize >= Limits.minimumSegmentSize, segmentSize <= Limits.maximumSegmentSize else {
                throw KVError(.invalidArgument, "segmentSize must be between \(Limits.minimumSegmentSize) and \(Limits.maximumSegmentSize) bytes")
            }
            guard expectedKeyCount >= 0, expectedKeyCount <= 1 << 40 else {
                throw KVError(.invalidArgument, "expectedKeyCount must be between 0 and 2^40")
            }
            if let maximumOpenFiles, maximumOpenFiles < 4 {
                throw KVError(.invalidArgument, "maximumOpenFiles must be at least 4")
            }
            if case .periodic(let interval) = durability, interval <= .zero {
                throw KVError(.invalidArgument, "the periodic sync interval must be positive")
            }
        }
    }
}
