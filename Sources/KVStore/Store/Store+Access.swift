extension Store {
    /// How this `Store` reaches the store's files: as their one writer, or as one of any number of
    /// readers beside it. See <doc:SharingBetweenProcesses>.
    public enum Access: Sendable, Equatable {
        /// Opened for writing: this process holds the store's lock.
        case writer
        /// Opened read-only, reading the store's own index as its writer keeps it: every write
        /// that returned in the writer before a read began is seen by that read. The writer's
        /// process id when a writer has the store open now, `nil` when none has (the index was
        /// closed cleanly, or its writer is gone).
        case liveReader(writerProcessID: Int32?)
        /// Opened read-only when no writer kept the index current (none was alive and the index
        /// was not closed cleanly): reads answer from a private index rebuilt from the log at
        /// open, and move over to the store's index (becoming ``liveReader(writerProcessID:)``)
        /// at the first call after a writer opens the store.
        case snapshotReader
    }

    /// How this `Store` reaches the store's files. For a reader, as of now: a snapshot reader
    /// becomes a live one once a writer has opened the store and a read has noticed.
    /// - Throws: ``KVError/Code/closed`` after ``close()-8zwz6``.
    public var access: Access {
        get throws {
            guard let live = engine.live else {
                _ = try engine.views.get()
                return .writer
            }
            _ = try? live.refresh()
            return try live.access()
        }
    }
}
