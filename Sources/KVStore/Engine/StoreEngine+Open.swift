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
        // 2. The lock, before anything about the directory is decided: a creator that looked first
        // could see "no STORE yet" while another process creates, fills and closes the store, and
        // then write a second STORE over the first one.
        let lock = try StoreLock.acquire(directory: directory)

        // 3. Under the lock (released by its deinit if this throws): a store, an empty directory to
        // make one in, or something else.
        let manifestPath = directory + "/" + FileNames.manifest
        var names: [String]
        do { names = try Sys.listDirectory(directory) } catch { throw error.kvError("opendir", path: directory) }
        let manifest: Manifest
        if names.contains(FileNames.manifest) {
            manifest = try Manifest.decode(readWholeFile(manifestPath), path: manifestPath)
            try manifest.checkFeatures(readOnly: configuration.readOnly, path: manifestPath)
        } else if configuration.readOnly {
            throw KVError(.notAStore, "the directory holds no STORE file", path: directory)
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
        if configuration.readOnly {
            return try openReadOnly(directory: directory, names: names, manifest: manifest, configuration: configuration, lock: lock)
        }
        return try recover(directory: directory, names: names, manifest: manifest, configuration: configuration, lock: lock)
    }

    /// Opens without changing any file in the directory: no recovery writes, no hint files, no
    /// index changes. An index that was not closed cleanly is rebuilt into a temporary file outside
    /// the store (removed at once; it lives as long as its mapping). Writes throw `.readOnly`.
    private static func openReadOnly(directory: String, names: [String], manifest: Manifest, configuration: Store.Configuration,
                                     lock: StoreLock) throws(KVError) -> StoreEngine {
        let hasher = configuration.hasher ?? .wyhash(seed: manifest.hashSeed)
        let bootID = configuration.bootID ?? BootID.current()
        var report = Store.RecoveryReport()
        let descriptors = DescriptorCache(limit: configuration.maximumOpenFiles ?? DescriptorCache.defaultLimit())
        var (files, _) = try openSegments(names: names, directory: directory, storeID: manifest.storeID, descriptors: descriptors,
                                          removeUnwrittenLast: false, report: &report)
        let indexPath = directory + "/" + FileNames.index
        var index: HashIndex? = nil
        if !configuration.rebuildIndex,
           let (existing, trust) = try HashIndex.open(path: indexPath, storeID: manifest.storeID, hashSeed: manifest.hashSeed,
                                                      bootID: bootID, writable: false),
           trust == .clean, let last = files.last, existing.covered.segmentID == last.id,
           (try? last.size()) == existing.covered.offset {
            index = existing
            report.indexTrust = .clean
        }
        if index == nil {
            let temporary = temporaryDirectory() + "/kvstore-readonly-\(UInt64.random(in: 0...UInt64.max)).index"
            let rebuilder = IndexRebuilder(directory: directory, storeID: manifest.storeID, hashSeed: manifest.hashSeed,
                                           hasher: hasher, bootID: bootID)
            let outcome = try rebuilder.rebuild(segments: files, path: temporary, generation: 0)
            _ = try? Sys.unlink(temporary)
            report.problems += outcome.problems
            report.setAsideSegments = outcome.lost.map(\.path)
            let lostIDs = Set(outcome.lost.map(\.id))
            files.removeAll { lostIDs.contains($0.id) }
            index = outcome.index
            report.indexTrust = files.isEmpty ? .new : .rebuilt
        }
        let views = ViewBox(ReadView(index: index!, segments: SegmentTable(files)))
        descriptors.setOnChange { [views] in views.publish(descriptors: $0) }
        let coordinator = SyncCoordinator(directory: directory, directoryDescriptor: lock.directoryDescriptor, writtenSequence: index!.lastSequence)
        return StoreEngine(directory: directory, configuration: configuration, hasher: hasher, views: views, writer: nil,
                           coordinator: coordinator, sealer: Sealer(directory: directory, storeID: manifest.storeID, coordinator: coordinator),
                           lock: lock, descriptors: descriptors, recovery: report)
    }

    private static func temporaryDirectory() -> String {
        if let value = getenv("TMPDIR"), let path = String(validatingCString: value), !path.isEmpty { return path }
        return "/tmp"
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
