extension Store {
    /// What opening a store found and did.
    public struct RecoveryReport: Sendable {
        /// How the index was brought up to date.
        public enum IndexTrust: Sendable, Equatable {
            /// A new, empty store.
            case new
            /// The index was closed cleanly and used as it was; no segment was read.
            case clean
            /// The index was left open by a crashed process of this boot; only the records after
            /// its covered position were read and applied.
            case replayed
            /// The index could not be trusted (missing, damaged, or written before a reboot) and
            /// was rebuilt from hint files and segments. For a read-only store the rebuilt index is
            /// private to it (``Store/Access-swift.enum/snapshotReader``).
            case rebuilt
            /// A read-only store reads the index a writer process has open, as that writer keeps it
            /// (``Store/Access-swift.enum/liveReader(writerProcessID:)``); nothing was read or applied.
            case live
        }

        /// How the index was brought up to date.
        public internal(set) var indexTrust: IndexTrust = .new
        /// Records applied to the index from the log (for ``IndexTrust/replayed``).
        public internal(set) var replayedRecords = 0
        /// Bytes of a torn write dropped from the end of the active segment.
        public internal(set) var droppedTailBytes = 0
        /// Whether an unfinished, empty segment file left by a crash was removed.
        public internal(set) var removedEmptySegment = false
        /// Segment files set aside (renamed to `*.seg.lost`) because they came after the point
        /// where a power loss cut the history: their writes were never synced. Not read by the store.
        public internal(set) var setAsideSegments: [String] = []
        /// Damage found in sealed segments. The keys in damaged records are unreadable; every
        /// other key is not affected.
        public internal(set) var problems: [KVError] = []
    }
}
