#if canImport(Glibc)
import Glibc
#endif

/// Opening a store: the directory checks, the lock, and recovery (FORMAT.md §6).
extension StoreEngine {
    static func open(path: String, configuration: Store.Configuration) throws(KVError) -> StoreEngine {
        try configuration.validate()
        let directory = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard !directory.isEmpty else { throw KVError(.invalidArgument, "the store path is empty") }

        // 1. The directory: create it, or make sure it is a store (or empty) before touching it.
        switch Sys.kind(of: directory) {
        case .missing where configuration.readOnly: throw KVError(.notAStore, "there is no store at this path", path: directory)
        case .missing: try makeDirectories(directory)
        case .directory: break
        case .file, .other: throw KVError(.notAStore, "the path is not a directory", path: directory)
        }
        // A reader takes no lock at all: it must never keep a writer out (FORMAT.md §12).
        if configuration.readOnly { return try openReader(directory: directory, configuration: configuration) }
        // 2. The lock, before anything about the directory is decided: a creator that looked first
        // could see "no STORE yet" while another process creates, fills and closes the store, and
        // then write a second STORE over the first one.
        let lock = try StoreLock.acquire(directory: directory, waiting: configuration.lockWait)

        // 3. Under the lock (released by its deinit if this throws): a store, an empty directory to
        // make one in, or something else.
        let manifestPath = directory + "/" + FileNames.manifest
        var names: [String]
        do { names = try Sys.listDirectory(directory) } catch { throw error.kvError("opendir", path: directory) }
        let manifest: Manifest
        if names.contains(FileNames.manifest) {
            manifest = try Manifest.decode(readWholeFile(manifestPath), path: manifestPath)
            try manifest.checkFeatures(readOnly: false, path: manifestPath)
        } else if names.contains(where: { $0 != FileNames.lock && $0 != FileNames.manifest + FileNames.temporarySuffix }) {
            throw KVError(.notAStore, "the directory is not empty and holds no STORE file", path: directory)
        } else {
            manifest = Manifest(storeID: .random(in: 1...UInt64.max), hashSeed: .random(in: 0...UInt64.max),
                                createdAt: UInt64(max(0, time(nil))))
            // Older builds lock only LOCK: hold it too before a STORE appears.
            try lock.lockLegacyFile()
            try writeFileAtomically(path: manifestPath, bytes: manifest.encode(), directory: directory)
            do { names = try Sys.listDirectory(directory) } catch { throw error.kvError("opendir", path: directory) }
        }
        return try recover(directory: directory, names: names, manifest: manifest, configuration: configuration, lock: lock)
    }

    private static func makeDirectories(_ directory: String) throws(KVError) {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if Sys.kind(of: prefix) == .missing {
                do { try Sys.makeDirectory(prefix) } catch where error == .exists {} catch { throw error.kvError("mkdir", path: prefix) }
            }
        }
    }
}
