#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The dictionaries of one store (FORMAT.md §3.2), as every reader of its records finds them: read
/// from their files on first use, then kept in memory until the store closes, found by id without
/// a lock and without writing any shared reference count (a get of a value compressed against
/// one runs in parallel with every other get).
///
/// A dictionary whose file is missing or fails its checks is not kept: each read of a value that
/// needs it throws its `.corruption` (naming the file), and every other value stays readable.
/// Retiring a dictionary removes its file only: a reader still holding a record read before may
/// decompress it still.
final class DictionaryShelf: @unchecked Sendable {
    // @unchecked: `published` is only read and written through atomics; `owned` under its lock.
    let directory: String
    let storeID: UInt64
    /// One word per possible id: the dictionary's object, unretained, or 0 (anonymous memory, so
    /// the 512 KiB cost only the pages of ids in use).
    private let published: UnsafeMutablePointer<Atomic<UInt>>
    private static let slots = 1 << 16
    /// The dictionaries published, holding their references; loading is serialized here.
    private let owned = Mutex<[UInt16: CompressionDictionary]>([:])
    /// Where this store's compaction and dictionary retirement delete files, so that a backup can
    /// hold them back. It lives here because the shelf is the one object the writer, the
    /// compactor and every handle of the store already share.
    let deletions = DeferredDeletions()

    init(directory: String, storeID: UInt64) throws(KVError) {
        self.directory = directory
        self.storeID = storeID
        let raw: UnsafeMutableRawPointer
        do { raw = try Sys.mapAnonymous(length: Self.slots * MemoryLayout<UInt>.stride) } catch {
            throw KVError(.resourceLimit, "cannot reserve memory for the dictionary table (\(error))", path: directory)
        }
        published = raw.assumingMemoryBound(to: Atomic<UInt>.self)
    }

    deinit { Sys.unmap(UnsafeMutableRawPointer(published), length: Self.slots * MemoryLayout<UInt>.stride) }

    func path(_ id: UInt16) -> String { directory + "/" + FileNames.dictionary(id) }

    /// Runs `body` with dictionary `id`, loading it on first use.
    @inline(__always)
    func with<R, E: Error>(_ id: UInt16, _ body: (CompressionDictionary) throws(E) -> R) throws -> R {
        let word = published[Int(id)].load(ordering: .acquiring)
        if word != 0 {
            return try Unmanaged<CompressionDictionary>.fromOpaque(UnsafeRawPointer(bitPattern: word)!)._withUnsafeGuaranteedRef { d throws(E) in
                try body(d)
            }
        }
        return try body(try load(id))
    }

    /// Dictionary `id`, from its file.
    func load(_ id: UInt16) throws(KVError) -> CompressionDictionary {
        try owned.withLock { (owned) throws(KVError) -> CompressionDictionary in
            if let known = owned[id] { return known }
            let path = self.path(id)
            let bytes: [UInt8]
            do throws(KVError) { bytes = try readWholeFile(path) } catch where error.errno == ENOENT {
                throw KVError.corruption("dictionary \(id) is missing: values compressed against it cannot be read", path: path, offset: 0)
            }
            let contents = try DictionaryLayout.decode(bytes, path: path, id: id, storeID: storeID)
            let dictionary = CompressionDictionary(id: id, bytes: contents.bytes, firstSegment: contents.firstSegment,
                                                   trainedOn: contents.trainedOn)
            publish(dictionary, in: &owned)
            return dictionary
        }
    }

    /// Writes a new dictionary's file (temporary name, synced, renamed, directory synced) and
    /// publishes it: after this returns, records may use it.
    func add(_ contents: DictionaryLayout.Contents) throws(KVError) -> CompressionDictionary {
        try writeFileAtomically(path: path(contents.id), bytes: DictionaryLayout.encode(contents), directory: directory)
        let dictionary = CompressionDictionary(id: contents.id, bytes: contents.bytes, firstSegment: contents.firstSegment,
                                               trainedOn: contents.trainedOn)
        owned.withLock { publish(dictionary, in: &$0) }
        return dictionary
    }

    private func publish(_ dictionary: CompressionDictionary, in owned: inout [UInt16: CompressionDictionary]) {
        owned[dictionary.id] = dictionary
        published[Int(dictionary.id)].store(UInt(bitPattern: Unmanaged.passUnretained(dictionary).toOpaque()), ordering: .releasing)
    }

    /// The ids of the dictionary files in the directory, ascending.
    static func fileIDs(in directory: String) -> [UInt16] {
        ((try? Sys.listDirectory(directory)) ?? []).compactMap(FileNames.dictionaryID(of:)).sorted()
    }

    /// Every dictionary whose file loads, by id (for statistics and tools); the others with why.
    func all() -> [(id: UInt16, result: Result<CompressionDictionary, KVError>)] {
        Self.fileIDs(in: directory).map { id in
            do throws(KVError) { return (id, .success(try load(id))) } catch { return (id, .failure(error)) }
        }
    }

    /// Removes the file of dictionary `id` (no record left uses it); the dictionary stays in
    /// memory for reads already under way.
    func retire(_ id: UInt16) {
        _ = try? deletions.unlink(path(id))
    }
}
