/// Rebuilding a table into a new file: growth, and removing tombstones.
extension HashIndex {
    /// Copies every live slot of `self` into a new index file at `path`, sized for `liveKeys + adding`
    /// keys at ``loadAfterGrowth`` (in shared memory through `residence`, when given). The caller
    /// renames it into place.
    func copy(to path: String, adding: Int, bootID: [UInt8], residence: IndexResidence? = nil) throws(KVError) -> HashIndex {
        let grown = try HashIndex.create(path: path, capacity: HashIndex.capacity(forLiveKeys: liveCount + adding),
                                         storeID: headerWord(IndexHeader.storeID), hashSeed: headerWord(IndexHeader.hashSeed),
                                         generation: generation + 1, bootID: bootID, residence: residence)
        var live = 0
        // The new table is sized from the header's count; more live slots than that is a damaged
        // table, and copying it could fill the new one to the last slot.
        let counted = liveCount
        for slot in 0..<capacity {
            let h = hash(at: slot)
            guard h > Self.tombstoneHash else { continue }
            guard live <= counted else {
                _ = try? Sys.unlink(path)
                if let made = grown.sharedMemoryPath { _ = try? Sys.unlink(made) }
                throw inconsistency("more live slots than the \(counted) counted")
            }
            try grown.insertSlot(hash: h, location: locationWord(at: slot))
            live += 1
        }
        grown.setCounts(live: live, tombstones: 0)
        grown.assertBuiltCorrectly("index growth")
        grown.setCovered(covered, sequence: lastSequence)
        grown.setWriteLimit(writeLimit)
        grown.setHeaderWord(IndexHeader.writer, headerWord(IndexHeader.writer))
        return grown
    }

    /// Grows the index at `directory/index` in place: a new file, renamed over the old one.
    ///
    /// Not synced, on purpose. The new file carries state "open" and this boot's id, like the one
    /// it replaces: after `kill -9` the page cache holds all of it, and after a power loss an index
    /// that was open is rebuilt whatever its pages hold (FORMAT.md §6). A sync here would buy
    /// nothing and stall the writer for as long as the disk takes to write the whole table
    /// (~100 ms for 1 M keys here); the clean close syncs it like every other page.
    ///
    /// `residence`: where the grown table may go in shared memory; whether it does is decided by
    /// its size under `placement` (``IndexResidence/accepts(length:placement:)``).
    func grow(directory: String, adding: Int, bootID: [UInt8], residence: IndexResidence? = nil,
              placement: Store.IndexPlacement = .file) throws(KVError) -> HashIndex {
        let path = directory + "/" + FileNames.index
        let temporary = path + FileNames.temporarySuffix
        let length = HashIndex.fileLength(capacity: HashIndex.capacity(forLiveKeys: liveCount + adding))
        let place = residence?.accepts(length: length, placement: placement) == true ? residence : nil
        let grown = try copy(to: temporary, adding: adding, bootID: bootID, residence: place)
        do { try HashIndex.replace(path, with: temporary, sharedMemoryPath: sharedMemoryPath, marking: sharedMemoryPath != nil ? file.fd : nil) } catch {
            if let made = grown.sharedMemoryPath { _ = try? Sys.unlink(made) }
            throw error
        }
        return grown
    }
}
