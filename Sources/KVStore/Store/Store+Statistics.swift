extension Store {
    /// A snapshot of a store's size and shape.
    public struct Statistics: Sendable, Equatable {
        /// Live keys.
        public var keys: Int
        /// Segment files.
        public var segments: Int
        /// Bytes of the records that hold live values (headers, keys and stored values).
        public var liveBytes: Int64
        /// Bytes of records that were overwritten or removed: what compaction can reclaim.
        public var deadBytes: Int64
        /// Bytes allocated on disk by every file of the store.
        public var diskBytes: Int64
        /// Slots in the index.
        public var indexCapacity: Int
        /// Share of index slots in use (live keys and removed markers).
        public var indexLoad: Double
        /// Size of the index file.
        public var indexBytes: Int64
        /// Index bytes per live key.
        public var indexBytesPerKey: Double
        /// Sync rounds (`fdatasync` of the files with new writes) since the store was opened. With
        /// ``Durability/sync`` and several writing threads, fewer rounds than writes shows group commit.
        public var syncs: Int
        /// Bytes of sealed segments mapped for reads now (``Configuration/mappingBudget``): never
        /// more than the budget. A mapping given up counts until the last get reading it is done.
        public var mappedBytes: Int = 0
        /// Sealed segments mapped now.
        public var mappedSegments: Int = 0
        /// Sealed segments mapped since the store was opened.
        public var segmentMaps: Int = 0
        /// Mappings of sealed segments undone since the store was opened.
        public var segmentUnmaps: Int = 0
        /// Whether the index is in shared memory (`/dev/shm`) rather than in the store directory
        /// (``Configuration-swift.struct/indexPlacement``). Its bytes are then not in ``diskBytes``.
        public var indexInSharedMemory: Bool = false
    }

    /// Counts the store's keys and bytes. Walks the whole index: O(number of keys).
    public var statistics: Statistics {
        get throws { try engine.statistics() }
    }
}
