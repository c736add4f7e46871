/// The writer's part of compaction: moving a live record to the end of the log.
///
/// Compaction copies forward: a record that is still its key's latest is appended again, as a new
/// record with a new sequence number and the same stored bytes, and its slot is repointed. To
/// recovery, replay and rebuild a copy is just a newer put of the same value, so no new file kind
/// and no new recovery rule is needed, and a crash at any point leaves either the old record or
/// the copy as the latest (FORMAT.md §7).
extension Writer {
    /// What compaction may do with a put record of a segment it is emptying.
    enum Relocation {
        /// It was its key's latest and now has a copy at the end of the log (bytes written).
        case moved(Int)
        /// The index points the key at a newer record: the log holds something better.
        case superseded
        /// The index does not point the key at this record nor at a newer one. Either the key was
        /// removed (a newer tombstone is in the log) or the index lost it; only the log can tell.
        case notIndexed
    }

    /// Moves the put record found at `from` to the end of the log if it is still its key's latest.
    /// A record the index does not point at is never called dead on the index's word alone: the
    /// key must be indexed at a newer record, or the caller must find a newer tombstone in the log.
    func relocate(header: RecordHeader, key: UnsafeRawBufferPointer, storedValue: UnsafeRawBufferPointer,
                  from: Location) throws(KVError) -> Relocation {
        let hash = hasher.hash(key)
        // The slot that points at this very record: location equality, no key comparison needed.
        // Failing that, one with the key's hash that points further along the log: records are
        // appended in sequence order (copies get new numbers at the end), so a later position is
        // a newer record. That takes no read; it errs only if the key's own slot was lost *and*
        // another key with the same 64-bit hash is indexed, and then only for a key that lost its
        // slot to damage.
        var newer = false
        let pointed = index.probe(hash: hash) { (slot, word) -> Int? in
            let location = Location(word: word)
            if location.segmentID == from.segmentID && location.offset == from.offset { return slot }
            if (location.segmentID, location.offset) > (from.segmentID, from.offset) { newer = true }
            return nil
        }
        guard let slot = pointed else { return newer ? .superseded : .notIndexed }
        if header.dictionaryID != 0 && header.dictionaryID != compressor.current?.id {
            return try recompress(header: header, key: key, storedValue: storedValue, from: from, slot: slot)
        }
        let offset = try room(for: header.length)
        let sequence = nextSequence
        let copy = RecordHeader(kind: .put, flags: header.flags, sequence: sequence, keyLength: header.keyLength,
                                storedValueLength: header.storedValueLength, rawValueLength: header.rawValueLength,
                                dictionaryID: header.dictionaryID)
        let p = active.mapping.base + offset
        copy.encodeBody(into: p)
        (p + RecordHeader.size).copyMemory(from: key.baseAddress!, byteCount: key.count)
        if storedValue.count > 0 {
            (p + RecordHeader.size + key.count).copyMemory(from: storedValue.baseAddress!, byteCount: storedValue.count)
        }
        active.publish(commitWord: copy.commitWord(checksum: copy.checksum(recordAt: p)), at: offset)
        index.update(slot: slot, location: Location(segmentID: active.id, offset: offset, recordLength: copy.length).word)
        finish(length: copy.length, sequence: sequence)
        return .moved(copy.length)
    }

    /// Copies a value compressed against an older dictionary compressed as a write would store it
    /// now (the current dictionary, plain LZ4, or raw): so that only the segments made while a
    /// dictionary was current ever use it, and it can retire once compaction has rewritten them
    /// (``retireUnusedDictionaries()``). A value that does not decompress is not copied: the
    /// error stops the compaction, and the segment stays.
    private func recompress(header: RecordHeader, key: UnsafeRawBufferPointer, storedValue: UnsafeRawBufferPointer,
                            from: Location, slot: Int) throws(KVError) -> Relocation {
        let value = try dictionaries.decompressed(storedValue, header: header, path: directory + "/" + FileNames.segment(from.segmentID),
                                                  offset: from.offset)
        let offset = try room(for: RecordHeader.size + key.count + value.count)
        let sequence = nextSequence
        let p = active.mapping.base + offset
        let copy = value.withBytes { encode(.put, key: key, value: $0, sequence: sequence, at: p) }
        active.publish(commitWord: copy.commitWord(checksum: copy.checksum(recordAt: p)), at: offset)
        index.update(slot: slot, location: Location(segmentID: active.id, offset: offset, recordLength: copy.length).word)
        finish(length: copy.length, sequence: sequence)
        return .moved(copy.length)
    }

    /// Removes the files of dictionaries no segment can use any more; returns their ids.
    ///
    /// Values are compressed against the current dictionary only, by writes and by compaction
    /// (``recompress(header:key:storedValue:from:slot:)``), so a dictionary is used only by the
    /// segments from the one active when it was made (its `firstSegment`) to the one active when
    /// the next was made. Once none of those is left, nothing refers to it. The newest dictionary
    /// always stays, and so does one whose file cannot be read (its range is unknown; it also
    /// widens the range of the one before it).
    func retireUnusedDictionaries() -> [UInt16] {
        let ids = DictionaryShelf.fileIDs(in: directory)
        guard ids.count > 1 else { return [] }
        let firsts: [(id: UInt16, first: UInt32)] = ids.compactMap { id in
            (try? dictionaries.load(id)).map { (id, $0.firstSegment) }
        }
        let live = segments.all.map(\.id)
        var retired: [UInt16] = []
        for (i, d) in firsts.enumerated() where i + 1 < firsts.count && d.id != compressor.current?.id {
            // Ranges hold only while later dictionaries start no earlier (a power loss's cut can
            // send the log back to an earlier segment): otherwise keep it.
            guard firsts[(i + 1)...].allSatisfy({ $0.first >= d.first }) else { continue }
            let end = firsts[i + 1].first
            if !live.contains(where: { $0 >= d.first && $0 <= end }) {
                dictionaries.retire(d.id)
                retired.append(d.id)
            }
        }
        return retired
    }

    /// Appends a copy of a tombstone for `key` unless the key has been set again since.
    /// Returns the bytes written.
    func keepTombstone(key: UnsafeRawBufferPointer) throws(KVError) -> Int {
        guard try findSlot(hash: hasher.hash(key), key: key) == nil else { return 0 }
        let length = RecordHeader.size + key.count
        let offset = try room(for: length)
        let sequence = nextSequence
        let tombstone = RecordHeader(kind: .delete, flags: 0, sequence: sequence, keyLength: key.count,
                                     storedValueLength: 0, rawValueLength: 0)
        let p = active.mapping.base + offset
        tombstone.encodeBody(into: p)
        (p + RecordHeader.size).copyMemory(from: key.baseAddress!, byteCount: key.count)
        active.publish(commitWord: tombstone.commitWord(checksum: tombstone.checksum(recordAt: p)), at: offset)
        finish(length: length, sequence: sequence)
        return length
    }

    /// Drops segments from the set readers see. Their files are deleted by the caller.
    func forget(_ ids: Set<UInt32>) {
        replaceSegments(segments.removing(ids))
    }
}
