/// Rebuilding a table into a new file: growth, and removing tombstones.
extension HashIndex {
    /// Copies every live slot of `self` into a new index file at `path`, sized for `liveKeys + adding`
    /// keys at ``loadAfterGrowth``, and makes it durable. The caller renames it into place.
    func copy(to path: String, adding: Int, bootID: [UInt8]) throws(KVError) -> HashIndex {
        let grown = try HashIndex.create(path: path, capacity: HashIndex.capacity(forLiveKeys: liveCount + adding),
                                         storeID: headerWord(IndexHeader.storeID), hashSeed: headerWord(IndexHeader.hashSeed),
                                         generation: generation + 1, bootID: bootID)
        var live = 0
        forEachLive { _, hash, location in
            grown.insertSlot(hash: hash, location: location)
            live += 1
        }
        grown.setCounts(live: live, tombstones: 0)
        grown.setCovered(covered, sequence: lastSequence)
        grown.setWriteLimit(writeLimit)
        try grown.syncAll()
        return grown
    }

    /// Grows the index at `directory/index` in place (new file, sync, rename, directory sync).
    func grow(directory: String, adding: Int, bootID: [UInt8]) throws(KVError) -> HashIndex {
        let path = directory + "/" + FileNames.index
        let temporary = path + FileNames.temporarySuffix
        let grown = try copy(to: temporary, adding: adding, bootID: bootID)
        do {
            try Sys.rename(temporary, path)
            try Sys.syncDirectory(directory)
        } catch {
            throw error.kvError("rename", path: path)
        }
        return grown
    }
}
