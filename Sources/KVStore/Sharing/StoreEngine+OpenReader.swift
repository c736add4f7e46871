#if canImport(Glibc)
import Glibc
#endif

/// Opening a store read-only: a live reader (FORMAT.md §12).
extension StoreEngine {
    /// Opens `directory` for reading without taking its lock or changing any file in it, whether
    /// or not a writer has it open. The index is the store's own when a writer keeps it current or
    /// it was closed cleanly; otherwise a private one is rebuilt outside the store (a temporary
    /// file, removed at once; it lives as long as its mapping). Writes throw `.readOnly`.
    static func openReader(directory: String, configuration: Store.Configuration) throws(KVError) -> StoreEngine {
        let directoryFD: Int32
        do { directoryFD = try Sys.open(directory, O_RDONLY | O_DIRECTORY) } catch { throw error.kvError("open", path: directory) }
        let manifestPath = directory + "/" + FileNames.manifest
        let manifest: Manifest
        switch Sys.kind(of: manifestPath) {
        case .missing:
            Sys.close(directoryFD)
            throw KVError(.notAStore, "the directory holds no STORE file", path: directory)
        default:
            do {
                manifest = try Manifest.decode(readWholeFile(manifestPath), path: manifestPath)
                try manifest.checkFeatures(readOnly: true, path: manifestPath)
            } catch {
                Sys.close(directoryFD)
                throw error
            }
        }
        let hasher = configuration.hasher ?? .wyhash(seed: manifest.hashSeed)
        let descriptors = DescriptorCache(limit: configuration.maximumOpenFiles ?? DescriptorCache.defaultLimit())
        // From here on the reader owns the directory descriptor (its deinit closes it).
        let live = LiveReader(directory: directory, storeID: manifest.storeID, hashSeed: manifest.hashSeed, hasher: hasher,
                              bootID: configuration.bootID ?? BootID.current(), descriptors: descriptors, directoryFD: directoryFD,
                              sharedMemoryDirectory: configuration.sharedMemoryDirectory)
        let choice = try live.choose(rebuild: configuration.rebuildIndex, following: false)
        if configuration.lockIndexInMemory { try choice.index.lockInMemory() }
        let views = ViewBox(ReadView(index: choice.index, segments: SegmentTable(choice.files), watch: choice.watch,
                                     acceptedMark: choice.acceptedMark))
        live.attach(views)
        descriptors.setOnChange { [views] in views.publish(descriptors: $0) }
        // Only segments below the one `covered` is in: the writer truncated each of them to its
        // records before it moved on (FORMAT.md §8). The writer's active segment is read with
        // pread: the writer truncates it when it seals it, which would be SIGBUS under a mapping.
        let mappings = MappingManager(budget: configuration.mappingBudget, views: views,
                                      mapsEverything: configuration.mapsEverySealedSegment,
                                      decidesInBackground: configuration.decidesMappingsInBackground) { file, view in
            file.id < view.index.covered.segmentID
        }
        let coordinator = SyncCoordinator(directory: directory, directoryDescriptor: directoryFD, writtenSequence: choice.index.lastSequence)
        return StoreEngine(directory: directory, configuration: configuration, hasher: hasher, views: views, writer: nil,
                           coordinator: coordinator, sealer: Sealer(directory: directory, storeID: manifest.storeID, coordinator: coordinator,
                                                                       manifest: ManifestFile(directory: directory, manifest: manifest)),
                           lock: nil, live: live, descriptors: descriptors, mappings: mappings,
                           dictionaries: try DictionaryShelf(directory: directory, storeID: manifest.storeID), recovery: choice.report)
    }
}
