#if canImport(Glibc)
import Glibc
#endif

/// Creating, opening, validating and closing the `index` file (FORMAT.md §4).
extension HashIndex {
    /// Creates a new, empty index file at `path` (any existing file is replaced) and maps it; with
    /// `residence`, the file is made in shared memory and `path` becomes a link to it.
    static func create(path: String, capacity: Int, storeID: UInt64, hashSeed: UInt64, generation: UInt64,
                       bootID: [UInt8], residence: IndexResidence? = nil) throws(KVError) -> HashIndex {
        let length = fileLength(capacity: capacity)
        let (fd, sharedMemoryPath) = try makeFile(path: path, length: length, residence: residence)
        let file: MappedFile
        do { file = try MappedFile(fd: fd, path: sharedMemoryPath ?? path, length: length, writable: true, ownsDescriptor: true) } catch {
            Sys.close(fd)
            throw error
        }
        let h = file.base
        magic.withUnsafeBytes { h.copyMemory(from: $0.baseAddress!, byteCount: 8) }
        h.storeLE(FormatVersion.major, at: IndexHeader.formatMajor)
        h.storeLE(FormatVersion.minor, at: IndexHeader.formatMinor)
        h.storeLE(storeID, at: IndexHeader.storeID)
        h.storeLE(hashSeed, at: IndexHeader.hashSeed)
        h.storeLE(UInt64(capacity), at: IndexHeader.capacity)
        h.storeLE(generation, at: IndexHeader.generation)
        h.storeLE(IndexHeader.stateOpen, at: IndexHeader.state)
        bootID.withUnsafeBytes { (h + IndexHeader.bootID).copyMemory(from: $0.baseAddress!, byteCount: 16) }
        let index = HashIndex(file: file, capacity: capacity, sharedMemoryPath: sharedMemoryPath)
        index.adviseForProbes(prefetch: false)
        return index
    }

    /// A new file of `length` bytes in shared memory, with a link to it at `path`, or `nil` when
    /// the memory file system or the store directory does not take it (no room, no permission, a
    /// file system without symbolic links): nothing is left behind then.
    static func makeSharedMemoryFile(path: String, length: Int, residence: IndexResidence, allocate: Bool) -> (Int32, String)? {
        let target = residence.newPath()
        guard let fd = try? Sys.open(target, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW) else { return nil }
        // Allocated now: a memory file system that fills up later would SIGBUS a write.
        let sized = allocate ? (try? Sys.allocate(fd, offset: 0, length: Int64(length))) != nil
            : (try? Sys.truncate(fd, length: Int64(length))) != nil
        if sized {
            _ = try? Sys.unlink(path)
            if (try? Sys.symbolicLink(target, at: path)) != nil { return (fd, target) }
        }
        Sys.close(fd)
        _ = try? Sys.unlink(target)
        return nil
    }

    /// A new file of `length` bytes, allocated, for a table at `path`: in shared memory with a link
    /// at `path` when `residence` is given and the memory file system takes it (else, as for every
    /// other table, a regular file at `path`). Returns its descriptor and the shared-memory path.
    ///
    /// `allocate: false` is for a caller that writes every byte of the file with `pwrite` before
    /// mapping it (which allocates it as well, and fails cleanly when there is no room).
    static func makeFile(path: String, length: Int, residence: IndexResidence?, allocate: Bool = true) throws(KVError) -> (Int32, String?) {
        if let residence, let (fd, target) = makeSharedMemoryFile(path: path, length: length, residence: residence, allocate: allocate) {
            return (fd, target)
        }
        // A link left at `path` must not be followed into another file: a new regular file.
        if Sys.isSymbolicLink(path) { _ = try? Sys.unlink(path) }
        let fd: Int32
        do { fd = try Sys.open(path, O_RDWR | O_CREAT | O_TRUNC) } catch { throw error.kvError("open", path: path) }
        do {
            // Preallocated, not ftruncate'd: first writes into a sparse mapping cost ~14× more here,
            // and a hole on a full disk would turn a store into SIGBUS.
            try Sys.allocate(fd, offset: 0, length: Int64(length))
        } catch {
            Sys.close(fd)
            _ = try? Sys.unlink(path)
            throw error.kvError("posix_fallocate", path: path)
        }
        return (fd, nil)
    }

    private static var magic: [UInt8] { IndexHeader.magic }

    /// How far an existing index file can be trusted (FORMAT.md §6).
    enum Trust {
        /// Closed cleanly: every record up to ``HashIndex/covered`` is in it, nothing else needed.
        case clean
        /// Left open by a process of this boot that died: the slots are exactly as it left them
        /// (they live in the page cache), so replay the log after ``HashIndex/covered``.
        case sameBoot
    }

    /// Opens and validates an existing index file. Returns `nil` when it cannot be trusted at all
    /// (missing, damaged, from another store, or left open before a reboot); the caller rebuilds.
    /// Throws when the file is there but cannot be read (EACCES, EIO…): a rebuild would hide that.
    ///
    /// An `index` that is a symbolic link is followed only into a file of `residence` (this store
    /// directory's, in shared memory); any other link is not trusted.
    static func open(path: String, storeID: UInt64, hashSeed: UInt64, bootID: [UInt8], writable: Bool = true,
                     residence: IndexResidence? = nil) throws(KVError) -> (HashIndex, Trust)? {
        // The link is read, then its target opened without following anything further; a writer
        // that renames between the two (its close, its growth) is met by reading the link again.
        var sharedMemoryPath: String? = nil
        var fd: Int32 = -1
        for attempt in 0..<3 {
            sharedMemoryPath = Sys.linkTarget(path)
            if let target = sharedMemoryPath {
                guard let residence, residence.owns(target) else { return nil }
            }
            do {
                fd = try Sys.open(sharedMemoryPath ?? path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW)
                break
            } catch where error == .notFound || error == .tooManySymbolicLinks {
                if attempt == 2 { return nil }
            } catch {
                throw error.kvError("open", path: path)
            }
        }
        var owned = true
        defer { if owned { Sys.close(fd) } }
        // A name in a world-writable directory proves nothing by itself: the file must belong to
        // this process's user, or to the owner of the store directory or of its STORE file (a
        // writer that made it); anybody else's is not trusted.
        if sharedMemoryPath != nil {
            var directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            if directory.isEmpty { directory = "." }
            guard let owner = Sys.owner(ofDescriptor: fd),
                  owner == geteuid() || owner == Sys.owner(ofPath: directory)
                    || owner == Sys.owner(ofPath: directory + "/" + FileNames.manifest) else { return nil }
        }
        let size: Int
        do { size = Int(try Sys.fileSize(fd)) } catch { throw error.kvError("fstat", path: path) }
        guard size >= IndexHeader.pageSize + minimumCapacity * slotSize else { return nil }
        // The header first, read: a file that is not this store's index is rebuilt without being
        // allocated or mapped (a bogus 10 GiB sparse file must not become 10 GiB of disk).
        var page = [UInt8](repeating: 0, count: IndexHeader.pageSize)
        let n: Int
        n = try page.withMutableBytes { (raw) throws(KVError) -> Int in
            do throws(Errno) { return try Sys.pread(fd, raw.baseAddress!, raw.count, 0) } catch { throw error.kvError("pread", path: path, offset: 0) }
        }
        guard n == page.count else { return nil }
        let capacity = page.withUnsafeBytes { raw -> Int in
            let h = raw.baseAddress!
            // Bytes from disk never trap: a huge capacity must not overflow the size check below.
            let rawCapacity = h.loadLE(UInt64.self, at: IndexHeader.capacity)
            let capacity = rawCapacity <= UInt64(size / slotSize) ? Int(rawCapacity) : 0
            guard raw.prefix(8).elementsEqual(magic),
                  h.loadLE(UInt16.self, at: IndexHeader.formatMajor) == FormatVersion.major,
                  h.loadLE(UInt64.self, at: IndexHeader.storeID) == storeID,
                  h.loadLE(UInt64.self, at: IndexHeader.hashSeed) == hashSeed,
                  capacity >= minimumCapacity, fileLength(capacity: capacity) == size else { return 0 }
            return capacity
        }
        guard capacity > 0 else { return nil }
        // Fully allocated before mapped: a sparse copy of the store (`cp --sparse=always`, a backup
        // that keeps holes) would otherwise fault on a hole at the first touch, and on a full disk
        // that is SIGBUS, not ENOSPC. A writer allocates the holes; a read-only open, which may not
        // change the file, does not trust it and rebuilds outside the store.
        let sparse: Bool
        do { sparse = try Sys.hasHole(fd) } catch { throw error.kvError("fstat", path: path) }
        if sparse {
            guard writable else { return nil }
            do { try Sys.allocate(fd, offset: 0, length: Int64(size)) } catch { throw error.kvError("posix_fallocate", path: path) }
        }
        let file = try MappedFile(fd: fd, path: sharedMemoryPath ?? path, length: size, writable: writable, ownsDescriptor: true)
        owned = false
        let h = UnsafeRawPointer(file.base)
        let index = HashIndex(file: file, capacity: capacity, sharedMemoryPath: sharedMemoryPath)
        guard index.countsArePlausible else { return nil }
        index.adviseForProbes(prefetch: true)
        switch h.loadLE(UInt32.self, at: IndexHeader.state) {
        case IndexHeader.stateClean:
            return index.headerChecksum() == h.loadLE(UInt32.self, at: IndexHeader.checksum) ? (index, .clean) : nil
        case IndexHeader.stateOpen:
            let written = Array(UnsafeRawBufferPointer(start: h + IndexHeader.bootID, count: 16))
            let known = written.contains { $0 != 0 }
            return known && written == bootID ? (index, .sameBoot) : nil
        default:
            return nil
        }
    }

    /// Why an index that ``open(path:storeID:hashSeed:bootID:writable:)`` did not trust is worth a
    /// line in the recovery report: a writer found it inconsistent, or its counters are impossible.
    /// `nil` for the ordinary reasons (missing, left open before a reboot, another store's).
    static func distrustReason(path: String) -> String? {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return nil }
        defer { Sys.close(fd) }
        var header = [UInt8](repeating: 0, count: IndexHeader.checksummedLength + 8)
        guard let size = try? Sys.fileSize(fd), size > IndexHeader.pageSize,
              let n = try? header.withUnsafeMutableBytes({ raw throws(Errno) in try Sys.pread(fd, raw.baseAddress!, raw.count, 0) }),
              n == header.count, header.prefix(8).elementsEqual(magic) else { return nil }
        return header.withUnsafeBytes { raw -> String? in
            let p = raw.baseAddress!
            if p.loadLE(UInt32.self, at: IndexHeader.state) == IndexHeader.stateInconsistent {
                return "a writer found the index inconsistent with its header"
            }
            // Counts are worth reporting only in a header whose checksum vouches for them; any
            // other damaged header is the ordinary "not trusted, rebuilt".
            var zeroed = Array(UnsafeRawBufferPointer(start: p, count: IndexHeader.checksummedLength))
            zeroed.withUnsafeMutableBytes { $0.baseAddress!.storeLE(UInt32(0), at: IndexHeader.checksum) }
            guard p.loadLE(UInt32.self, at: IndexHeader.state) == IndexHeader.stateClean,
                  CRC32C.checksum(zeroed) == p.loadLE(UInt32.self, at: IndexHeader.checksum) else { return nil }
            let capacity = Double((size - Int64(IndexHeader.pageSize)) / Int64(slotSize))
            let used = Double(p.loadLE(UInt64.self, at: IndexHeader.liveCount)) + Double(p.loadLE(UInt64.self, at: IndexHeader.tombstoneCount))
            return used > capacity * maximumLoad + 1 ? "the index header counts more keys than its table can hold" : nil
        }
    }

    private func headerChecksum() -> UInt32 {
        Self.headerChecksum(UnsafeRawPointer(file.base))
    }

    private static func headerChecksum(_ h: UnsafeRawPointer) -> UInt32 {
        var header = Array(UnsafeRawBufferPointer(start: h, count: IndexHeader.checksummedLength))
        header.withUnsafeMutableBytes { $0.baseAddress!.storeLE(UInt32(0), at: IndexHeader.checksum) }
        return CRC32C.checksum(header)
    }

    /// The header page of a copy of this index made now, as a clean index covering the log up to
    /// `covered`: what a backup writes in front of the slots it copies while it holds the writer
    /// (FORMAT.md §14). Between two writes no slot change is pending and no batch is applying.
    func cleanHeaderCopy(covered: LogPosition, sequence: UInt64) -> [UInt8] {
        var page = Array(UnsafeRawBufferPointer(start: file.base, count: IndexHeader.pageSize))
        page.withUnsafeMutableBytes { raw in
            let h = raw.baseAddress!
            h.storeLE(covered.word, at: IndexHeader.covered)
            h.storeLE(sequence, at: IndexHeader.lastSequence)
            h.storeLE(covered.word, at: IndexHeader.writeLimit)
            h.storeLE(UInt64(0), at: IndexHeader.pendingChange)
            h.storeLE(UInt64(0), at: IndexHeader.replaced)
            h.storeLE(UInt64(0), at: IndexHeader.writer)
            h.storeLE(UInt64(0), at: IndexHeader.applying)
            h.storeLE(IndexHeader.stateClean, at: IndexHeader.state)
            h.storeLE(Self.headerChecksum(UnsafeRawPointer(h)), at: IndexHeader.checksum)
        }
        return page
    }

    /// Marks the index as being written, and makes that durable before any slot changes: otherwise
    /// a power loss could leave an old "clean" header in front of half-written slots.
    ///
    /// It also names this writer in the header (``writerWord``): a live reader that rebuilt a
    /// private index because no writer was alive sees the word change and moves over to this one.
    func markOpen(bootID: [UInt8]) throws(KVError) {
        let h = file.base
        bootID.withUnsafeBytes { (h + IndexHeader.bootID).copyMemory(from: $0.baseAddress!, byteCount: 16) }
        h.storeLE(UInt32(0), at: IndexHeader.checksum)
        h.storeLE(IndexHeader.stateOpen, at: IndexHeader.state)
        setHeaderWord(IndexHeader.writer, Self.newWriterWord())
        try file.sync(offset: 0, length: IndexHeader.pageSize)
    }

    /// A ``IndexHeader/writer`` word for a writer that opens now: this process's pid, and a random
    /// half that tells one open from the next (the same process, or a reused pid).
    static func newWriterWord() -> UInt64 { UInt64(UInt32.random(in: 1...UInt32.max)) << 32 | UInt64(UInt32(bitPattern: getpid())) }

    /// Marks the index clean after writing every slot back: the next open will trust it without
    /// reading the log.
    func markClean() throws(KVError) {
        try file.sync()
        let h = file.base
        setHeaderWord(IndexHeader.writer, 0)
        h.storeLE(IndexHeader.stateClean, at: IndexHeader.state)
        h.storeLE(headerChecksum(), at: IndexHeader.checksum)
        try file.sync(offset: 0, length: IndexHeader.pageSize)
    }

    /// Makes the whole index durable (used before it is renamed into place).
    func syncAll() throws(KVError) { try file.sync() }

    /// Renames the index file at `temporary` over `path`, marking the file it replaces first: a
    /// live reader in another process still maps that file (a rename does not change a mapping),
    /// and the mark is how it learns to open `path` again (FORMAT.md §12). The mark goes through
    /// `pwrite`, not a mapping, so that it reaches a file this process never mapped or could not
    /// trust (a damaged or foreign header still has offset 256).
    ///
    /// Mark, then rename: the other order leaves, if the writer dies between the two, a file that
    /// readers map, no longer at `path`, and never marked. This order leaves at worst a marked file
    /// that is still the index: a reader that finds the mark on the file at `path` keeps reading it,
    /// and the next writer clears the mark (``clearReplacedMark()``). A mark that cannot be written
    /// (EIO) stops the replacement: readers of the old file could never learn of the new one and
    /// would read stale slots for as long as they stay open. Growth then fails before its write
    /// publishes anything; an open fails and can be tried again.
    ///
    /// `sharedMemoryPath` is the replaced table's file in shared memory, if it lived there: it is
    /// removed once the rename is done (readers that still map it keep it until they let go).
    ///
    /// `marking`: a descriptor of the file replaced, for a table in shared memory: the mark goes
    /// through it, so that it reaches the file readers map even when its name there is gone
    /// (removed by hand, or by a session cleaner). A file in the store directory is opened by
    /// its name, which only this store's writer changes.
    static func replace(_ path: String, with temporary: String, sharedMemoryPath: String? = nil, marking: Int32? = nil) throws(KVError) {
        defer {
            if let sharedMemoryPath, Sys.linkTarget(path) != sharedMemoryPath { _ = try? Sys.unlink(sharedMemoryPath) }
        }
        var old: Int32? = marking
        var opened = false
        if old == nil {
            // A link is followed only into the table being replaced: any other link leads to a
            // file that is not this store's index (a copy's link to the original's), never marked.
            do {
                old = try Sys.open(sharedMemoryPath ?? path, O_RDWR | O_NOFOLLOW)
                opened = true
            } catch where error == .notFound || error == .tooManySymbolicLinks { old = nil } catch {
                _ = try? Sys.unlink(temporary)
                throw error.kvError("open", path: path)
            }
        }
        defer { if opened, let old { Sys.close(old) } }
        // A file shorter than the header page is no index a reader could have mapped.
        if let old, ((try? Sys.fileSize(old)) ?? Int64(IndexHeader.pageSize)) >= Int64(IndexHeader.pageSize) {
            var token = UInt64.random(in: 1...UInt64.max).littleEndian
            do {
                try withUnsafeBytes(of: &token) { raw throws(Errno) in try Sys.pwrite(old, raw.baseAddress!, 8, Int64(IndexHeader.replaced)) }
            } catch {
                _ = try? Sys.unlink(temporary)
                throw error.kvError("pwrite", path: path, offset: Int64(IndexHeader.replaced))
            }
            do { try Sys.rename(temporary, path) } catch {
                unmark(old)
                throw error.kvError("rename", path: path)
            }
            return
        }
        do { try Sys.rename(temporary, path) } catch { throw error.kvError("rename", path: path) }
    }

    private static func unmark(_ fd: Int32) {
        var zero = UInt64(0)
        _ = try? withUnsafeBytes(of: &zero) { raw throws(Errno) in try Sys.pwrite(fd, raw.baseAddress!, 8, Int64(IndexHeader.replaced)) }
    }

    /// The ``IndexHeader/replaced`` token: 0 while this file is the store's index.
    @inline(__always) var replacedToken: UInt64 { headerWord(IndexHeader.replaced) }

    /// Clears a replacement mark left on the file that is still the index (a writer died between
    /// marking it and renaming the new file over it). The writer that opens the index does this.
    func clearReplacedMark() {
        if replacedToken != 0 { setHeaderWord(IndexHeader.replaced, 0) }
    }

    /// The batch whose slots the writer is changing, or 0. A reader that finds it set while no
    /// writer is alive is looking at a batch half applied by a writer that died, and rebuilds
    /// privately instead (FORMAT.md §12.4).
    @inline(__always) var applyingBatch: UInt64 { headerWord(IndexHeader.applying) }
    func setApplyingBatch(_ position: LogPosition?) { setHeaderWord(IndexHeader.applying, position?.word ?? 0) }

    /// The writer that has this index open, or 0 (closed cleanly, or an earlier build's writer).
    var writerWord: UInt64 { headerWord(IndexHeader.writer) }
}
