extension Store {
    /// How far a backup has come, as ``backup(to:progress:)`` reports it.
    public struct BackupProgress: Sendable, Equatable {
        /// Files to put in the backup, and put so far.
        public var files: Int
        public var filesDone: Int
        /// Bytes copied so far (linked files cost none).
        public var bytesCopied: Int64

        public init(files: Int, filesDone: Int, bytesCopied: Int64) {
            self.files = files
            self.filesDone = filesDone
            self.bytesCopied = bytesCopied
        }
    }

    /// What ``backup(to:progress:)`` did.
    public struct BackupReport: Sendable, Equatable {
        /// How the backup's index was made.
        public enum IndexSource: String, Sendable, Equatable {
            /// Copied from the store's index while writers waited (``BackupReport/writersHeld``).
            case copied
            /// The earlier backup's index, brought up to date with the records written since.
            case updated
            /// Rebuilt from the backup's own files: for a read-only handle, an index larger than
            /// 256 MiB, or an earlier backup whose history the store no longer continues.
            case rebuilt
        }

        /// The backup's directory.
        public var target: String
        /// Whether the target held an earlier backup of this store, which this one updated.
        public var incremental = false
        /// Files hard-linked from the store (they cost no copy and no space).
        public var filesLinked = 0
        /// Files copied: the end of the log, small files, and every file on another file system.
        public var filesCopied = 0
        /// Files the earlier backup already held, kept as they were.
        public var filesKept = 0
        /// Bytes copied from the store into the backup.
        public var bytesCopied: Int64 = 0
        /// Segments this backup has that the earlier one did not, and the other way round
        /// (segments compaction retired since).
        public var segmentsAdded = 0
        public var segmentsDropped = 0
        /// How the index was made.
        public var index: IndexSource = .rebuilt
        /// Where the backup's log ends: it holds every write that returned before that point and
        /// none after it. A segment id and a byte offset in it.
        public var segmentID: UInt32 = 0
        public var offset = 0
        /// The sequence number of the last write the backup holds.
        public var sequence: UInt64 = 0
        /// How long writers of this store waited for the backup (it holds the writer only to note
        /// where the log ends and, for ``IndexSource/copied``, to copy the index).
        public var writersHeld: Duration = .zero
        /// How long the whole backup took.
        public var duration: Duration = .zero

        public init(target: String) { self.target = target }
    }

    /// Copies the store, while reads and writes go on, into `path`: a directory that is then a
    /// store of its own, holding exactly the store's contents at one moment between the call's
    /// start and its return (every write that returned before that moment, none after, never part
    /// of a batch).
    ///
    /// A log-structured store's sealed segments never change, so the backup **hard-links** them
    /// (with their hint files and compression dictionaries) where the target is on the same file
    /// system, and copies them where it is not. Only the end of the log is copied: the active
    /// segment, which the backup first seals (a roll, as when it fills) once it holds a quarter
    /// of ``Configuration-swift.struct/segmentSize`` (16 MiB by default). The index is copied
    /// into memory while writers wait for it (indexes up to 256 MiB: about 10 M keys), or rebuilt
    /// at the target. Everything is synced, directories included, before the call returns.
    /// Compaction that runs meanwhile deletes nothing the backup still needs until it is done.
    ///
    /// A linked file is the same file as the store's, not a second copy of its bytes: a backup on
    /// the same file system protects against mistakes (a deleted or overwritten key, a bad
    /// deploy), not against the loss or decay of the disk. Back up to another file system (or copy
    /// the backup elsewhere) for that. Neither the store nor its backups ever write into a file
    /// they share: a recovery that would continue one copies it first.
    ///
    /// **Incremental.** Into a directory that holds an earlier backup of this store, the backup
    /// keeps the files that did not change, adds the segments that are new, drops the ones
    /// compaction retired, brings the earlier index forward by replaying only the records written
    /// since, and swaps the new backup in for the old one in one atomic rename: a crash at any
    /// point leaves the old backup or the new one, each complete. A key removed since the earlier
    /// backup stays removed even when compaction has dropped its tombstone.
    ///
    /// The target must be missing, empty, or an earlier backup of this store that nobody wrote to
    /// since; anything else is refused with ``KVError/Code/notABackup`` and left as it is. The
    /// backup is assembled in a directory beside it (`.NAME.kvbackup`, removed afterwards), so the
    /// target's parent directory must be writable.
    ///
    /// **Restoring** is opening the backup: `try Store(path: backupPath)`. Writing to it makes it
    /// a store of its own (a later backup into the same directory is refused then); to keep the
    /// backup as it is, back it up into a new directory and open that
    /// (`kvtool backup BACKUP NEWSTORE`): a backup that is backed up is not sealed, so it does
    /// not change.
    ///
    /// A read-only handle (a live reader of a store another process writes) backs up too: it
    /// captures the end of the log its writer published, copies the active segment's records,
    /// and brings the earlier backup's index forward, or rebuilds one at the target.
    ///
    /// A backup waits on the disk: it has no `async` variant, so call it from a thread that may
    /// block (not from Swift's cooperative pool in a server that must stay responsive).
    ///
    /// ```swift
    /// let report = try store.backup(to: "/var/backups/app-kv")
    /// print("linked \(report.filesLinked) files, copied \(report.bytesCopied) bytes")
    /// ```
    ///
    /// - Parameters:
    ///   - path: The backup's directory.
    ///   - progress: Called after each file is in place, on the calling thread.
    /// - Returns: What was linked, copied and kept, and where the backup's log ends.
    /// - Throws: ``KVError`` with ``KVError/Code/notABackup`` for a target that holds something
    ///   else, ``KVError/Code/locked`` when the target is open as a store or another backup runs
    ///   into it, ``KVError/Code/io`` for a failed system call (a full disk: nothing of the earlier
    ///   backup is lost), ``KVError/Code/closed`` after ``close()-8zwz6``.
    @discardableResult
    public func backup(to path: String, progress: ((BackupProgress) -> Void)? = nil) throws -> BackupReport {
        try engine.backup(to: path, progress: progress)
    }
}
