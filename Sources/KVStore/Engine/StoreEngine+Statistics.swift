#if canImport(Glibc)
import Glibc
#endif

/// What ``Store/statistics`` reports, counted from the index, the segment table and the files.
extension StoreEngine {
    func statistics(countingLiveBytes: Bool = true) throws(KVError) -> Store.Statistics {
        var view = try views.get()
        // A live reader counts the segments on disk now, not those its reads have met.
        if let live { view = try live.refreshSegments() }
        let end = try logEnd()
        var liveBytes: Int64 = 0
        if countingLiveBytes { view.index.forEachLive { _, _, word in liveBytes += Int64(Location(word: word).readLength) } }
        var dataBytes: Int64 = 0
        var diskBytes: Int64 = 0
        var segments = 0
        for file in view.segments.all {
            let dataEnd: Int
            if file.id == end.segmentID { dataEnd = end.offset }
            else if file.id > end.segmentID { dataEnd = SegmentHeader.size }  // a live writer's newest, nothing covered yet
            else {
                // Compaction (automatic, on its own thread, or a live writer's) may delete a segment
                // after the view was taken: it no longer counts.
                do { dataEnd = try file.size() } catch where error.errno == ENOENT { continue }
            }
            segments += 1
            dataBytes += Int64(max(0, dataEnd - SegmentHeader.size))
            diskBytes += (try? file.allocatedBytes()) ?? 0
        }
        // An index in shared memory takes memory, not disk.
        if view.index.sharedMemoryPath == nil { diskBytes += (try? Sys.allocatedBytes(view.index.file.fd)) ?? 0 }
        if let names = try? Sys.listDirectory(directory) {
            for name in names where name.hasSuffix(FileNames.hintSuffix) || name == FileNames.manifest {
                if let fd = try? Sys.open(directory + "/" + name, 0) {
                    diskBytes += (try? Sys.allocatedBytes(fd)) ?? 0
                    Sys.close(fd)
                }
            }
        }
        let keys = view.index.liveCount
        let indexBytes = Int64(view.index.file.length)
        let mapping = mappings.figures
        return Store.Statistics(
            keys: keys, segments: segments,
            liveBytes: min(liveBytes, dataBytes), deadBytes: countingLiveBytes ? max(0, dataBytes - liveBytes) : 0, diskBytes: diskBytes,
            indexCapacity: view.index.capacity,
            indexLoad: Double(keys + view.index.tombstoneCount) / Double(view.index.capacity),
            indexBytes: indexBytes, indexBytesPerKey: keys > 0 ? Double(indexBytes) / Double(keys) : 0,
            syncs: coordinator.syncRounds,
            mappedBytes: mapping.mappedBytes, mappedSegments: mapping.mappedSegments,
            segmentMaps: mapping.maps, segmentUnmaps: mapping.unmaps,
            indexInSharedMemory: view.index.sharedMemoryPath != nil)
    }
}
