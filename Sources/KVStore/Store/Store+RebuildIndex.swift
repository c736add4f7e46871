extension Store {
    /// How far a rebuild of the index has come, as ``Configuration-swift.struct/rebuildProgress``
    /// reports it.
    public struct RebuildProgress: Sendable, Equatable {
        /// Segments to read, and read so far in this pass (newest first).
        public var segments: Int
        public var segmentsRead = 0
        /// Records to read in each pass (every put and delete of the history, not keys), and read
        /// so far in this pass.
        public var records: Int
        public var recordsRead = 0
        /// Keys indexed so far.
        public var keys = 0
        /// How many times the records are read, and how many of those passes are done. A large
        /// index is built a part at a time, in private memory of about 8 bytes per key, and each
        /// part reads every record again (4 passes at 100 M keys); a small one takes one pass.
        public var passes = 1
        public var passesDone = 0

        public init(segments: Int, records: Int) {
            self.segments = segments
            self.records = records
        }

        /// Between 0 and 1: the share of the records read, over all passes.
        public var fractionDone: Double {
            records == 0 ? 1 : min(1, Double(passesDone * records + recordsRead) / Double(max(1, passes) * records))
        }
    }

    /// Rebuilds the index of the store at `path` from its log, whatever the existing index says,
    /// and returns what the rebuild found.
    ///
    /// The log (the segment files, read through their hint files where those are valid) is the
    /// source of truth, so a rebuild is always safe. Use it when ``verify()`` reports problems in the
    /// index (a key that is not indexed at its latest record, a slot that points anywhere else), or
    /// after putting back segment files without the index that went with them. You do not need it
    /// after a crash or a power loss: opening the store already replays or rebuilds an index that
    /// was not closed cleanly, is missing or is damaged. This call is for an index that looks sound
    /// but is wrong.
    ///
    /// It takes the store's lock, as opening does, and holds it for the whole rebuild, so no other
    /// handle can use the store meanwhile. The store must therefore not be open anywhere else, in
    /// this process or another: while it is, this throws ``KVError/Code/locked`` and changes
    /// nothing. The rebuild is an open of the store that ignores the existing index (the new one is
    /// written beside it and renamed over it), followed by a clean ``close()-8zwz6``; its recovery is
    /// the one an open does after a power loss (a torn tail is dropped, segments past a cut in the
    /// log are set aside). It costs a read of every hint file and of every segment without one.
    ///
    /// ```swift
    /// let report = try Store.rebuildIndex(at: "/var/lib/app/kv")
    /// for problem in report.problems { print(problem) }
    /// ```
    ///
    /// - Parameters:
    ///   - path: The store's directory. No store is created: a path without one is refused.
    ///   - configuration: The settings the store is opened with for the rebuild;
    ///     ``Configuration-swift.struct/expectedKeyCount`` sizes the new index. It must not be
    ///     ``Configuration-swift.struct/readOnly``.
    /// - Returns: What the open found and did: ``RecoveryReport/indexTrust`` is
    ///   ``RecoveryReport/IndexTrust/rebuilt`` (``RecoveryReport/IndexTrust/new`` for a store that
    ///   has no segment yet), and ``RecoveryReport/problems`` lists the damage found in the log.
    /// - Throws: ``KVError`` with ``KVError/Code/locked`` when the store is open elsewhere,
    ///   ``KVError/Code/notAStore`` when `path` holds no store, ``KVError/Code/invalidArgument`` for a
    ///   read-only or invalid configuration, ``KVError/Code/incompatibleFormat`` for files of a newer
    ///   format, ``KVError/Code/corruption`` and ``KVError/Code/io`` as ``init(path:configuration:)``
    ///   throws them.
    public static func rebuildIndex(at path: String, configuration: Configuration = Configuration()) throws -> RecoveryReport {
        guard !configuration.readOnly else {
            throw KVError(.invalidArgument, "rebuilding the index writes a new index file: the configuration must not be readOnly",
                          path: path)
        }
        // An open creates a missing store; a rebuild must not. A STORE file, once written, is never
        // removed, so the one seen here is still there when the open looks again under the lock.
        if !path.isEmpty {
            switch Sys.kind(of: path) {
            case .directory: break
            case .missing: throw KVError(.notAStore, "there is no store at this path", path: path)
            case .file, .other: throw KVError(.notAStore, "the path is not a directory", path: path)
            }
            guard Sys.kind(of: path + "/" + FileNames.manifest) != .missing else {
                throw KVError(.notAStore, "the directory holds no STORE file", path: path)
            }
        }
        var rebuilding = configuration
        rebuilding.rebuildIndex = true
        let store = try Store(path: path, configuration: rebuilding)
        let report = store.recoveryReport
        try store.close()
        return report
    }
}
