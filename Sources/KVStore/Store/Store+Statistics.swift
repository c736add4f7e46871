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
    }

    /// Counts the store's keys and bytes. Walks the whole index: O(number of keys).
    public var statistics: Statistics {
        get throws {
            let view = try engine.views.get()
            let end = try engine.logEnd()
            let activeEnd = (end.segmentID, end.offset)
            var liveBytes: Int64 = 0
            view.index.forEachLive { _, _, word in liveBytes += Int64(Location(word: word).readLength) }
            var dataBytes: Int64 = 0
            var diskBytes: Int64 = 0
            for file in view.segments.all {
                let end = file.id == activeEnd.0 ? activeEnd.1 : try file.size()
                dataBytes += Int64(max(0, end - SegmentHeader.size))
                diskBytes += (try? file.allocatedBytes()) ?? 0
            }
            diskBytes += (try? Sys.allocatedBytes(view.index.file.fd)) ?? 0
            if let names = try? Sys.listDirectory(path) {
                for name in names where name.hasSuffix(FileNames.hintSuffix) || name == FileNames.manifest {
                    if let fd = try? Sys.open(path + "/" + name, 0) {
                        diskBytes += (try? Sys.allocatedBytes(fd)) ?? 0
                        Sys.close(fd)
                    }
                }
            }
            let keys = view.index.liveCount
            let indexBytes = Int64(view.index.file.length)
            return Statistics(
                keys: keys, segments: view.segments.all.count,
                liveBytes: min(liveBytes, dataBytes), deadBytes: max(0, dataBytes - liveBytes), diskBytes: diskBytes,
                indexCapacity: view.index.capacity,
                indexLoad: Double(keys + view.index.tombstoneCount) / Double(view.index.capacity),
                indexBytes: indexBytes, indexBytesPerKey: keys > 0 ? Double(indexBytes) / Double(keys) : 0,
                syncs: engine.coordinator.syncRounds)
        }
    }
}
