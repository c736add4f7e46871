extension Store {
    /// When a segment is worth compacting, and how fast to copy.
    public struct CompactionOptions: Sendable, Equatable {
        /// A sealed segment is compacted when at least this share of its bytes is dead
        /// (overwritten or removed records). Default 0.5.
        public var minimumDeadRatio: Double = 0.5
        /// ...and at least this many of its bytes are dead. Default 1 MiB.
        public var minimumDeadBytes: Int = 1 << 20
        /// Copies at most this many bytes per second, sleeping between chunks, so that foreground
        /// reads and writes keep their latency. `nil`: as fast as possible. Default `nil`.
        public var maximumBytesPerSecond: Int? = nil
        /// Reports what would be compacted, and changes nothing. Default `false`.
        public var dryRun = false

        /// Options with every default.
        public init() {}
    }

    /// What a compaction did, segment by segment.
    public struct CompactionReport: Sendable {
        /// The decision about one sealed segment.
        public struct Segment: Sendable, Equatable {
            /// The segment file.
            public var path: String
            /// Its size on disk.
            public var bytes: Int64
            /// Bytes of its records that are still their key's latest.
            public var liveBytes: Int64
            /// Bytes of its records that are not.
            public var deadBytes: Int64
            /// Whether it was compacted (or, in a dry run, would be).
            public var compacted: Bool
            /// Why, in words: "62% dead (40.1 MiB)", "below the 50% dead threshold", ….
            public var reason: String
        }

        /// Every sealed segment considered, oldest first.
        public internal(set) var segments: [Segment] = []
        /// Segments compacted and deleted.
        public internal(set) var segmentsCompacted = 0
        /// Bytes of the compacted segments.
        public internal(set) var bytesBefore: Int64 = 0
        /// Bytes copied forward into the log from them.
        public internal(set) var bytesAfter: Int64 = 0
        /// Live records copied.
        public internal(set) var recordsCopied = 0
        /// Tombstones kept because an older segment could still hold a value for their key.
        public internal(set) var tombstonesKept = 0
        /// Tombstones dropped.
        public internal(set) var tombstonesDropped = 0
        /// Compression dictionaries whose files were removed because no segment left uses them
        /// (values copied forward are compressed against the current dictionary).
        public internal(set) var dictionariesRetired = 0
        /// Wall-clock duration.
        public internal(set) var seconds = 0.0
        /// Whether this was a dry run.
        public internal(set) var dryRun = false
        /// Whether it ran on its own (automatic compaction) rather than from ``Store/compact(_:)``.
        public internal(set) var automatic = false

        /// Disk bytes given back: ``bytesBefore`` − ``bytesAfter``.
        public var reclaimedBytes: Int64 { bytesBefore - bytesAfter }
    }

    /// Rewrites the live records of sealed segments whose dead share crosses the thresholds to the
    /// end of the log, repoints the index, makes the copies durable, and deletes the old segments.
    ///
    /// Readers and writers keep working while it runs (writers wait only while a chunk of records
    /// is moved). A crash at any point loses nothing and resurrects nothing: until a segment is
    /// deleted, its records and their copies are both on disk and the copy is the newer one. A
    /// tombstone is kept while any older segment could still hold a value for its key.
    /// - Returns: What was compacted and why. ``compactionStatus`` keeps the last report.
    public func compact(_ options: CompactionOptions = CompactionOptions()) throws -> CompactionReport {
        try engine.compact(options, automatic: false)
    }

    /// The last compaction's report (manual or automatic), or `nil` if none ran since opening.
    public var compactionStatus: CompactionReport? {
        engine.compactor.lastReport
    }
}
