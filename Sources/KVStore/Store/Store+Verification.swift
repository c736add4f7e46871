extension Store {
    /// What ``Store/verify()`` found.
    public struct VerificationReport: Sendable {
        /// One problem: where, and what is wrong. Never contains key or value bytes.
        public struct Problem: Sendable, Equatable, CustomStringConvertible {
            /// The file.
            public var path: String
            /// The byte offset in the file, when the problem has one.
            public var offset: Int64?
            /// What is wrong.
            public var message: String

            public var description: String { path + (offset.map { " @\($0)" } ?? "") + ": " + message }
        }

        /// Every problem found, in file order.
        public internal(set) var problems: [Problem] = []
        /// Segment files read.
        public internal(set) var segments = 0
        /// Records whose checksum was verified.
        public internal(set) var records = 0
        /// Hint files checked against their segments.
        public internal(set) var hints = 0
        /// Live keys checked against the index.
        public internal(set) var keys = 0

        /// Whether a writer had the store open when a read-only store's check began. Then only the
        /// segments that were sealed and durable at that moment were read (each against its
        /// hint), and the index only where it points into them; the newest records and the rest of
        /// the index are the writer's moving part (see <doc:SharingBetweenProcesses>).
        public internal(set) var checkedWhileWriting = false
        /// Segments not read because they were not yet sealed and durable when the check began (or
        /// were compacted away during it); 0 unless ``checkedWhileWriting``.
        public internal(set) var uncheckedSegments = 0

        /// Whether nothing is wrong.
        public var isOK: Bool { problems.isEmpty }
    }

    /// Reads every record of every segment and checks its checksum, every hint file against its
    /// segment, and the index against the log (every live key indexed at its latest record, no
    /// slot pointing anywhere else). Returns every problem found rather than stopping at the first.
    ///
    /// Writes wait while it runs (reads do not). It reads the whole store: O(data).
    /// - Throws: ``KVError`` only when it cannot read at all (``KVError/Code/closed``, I/O errors).
    public func verify() throws -> VerificationReport {
        try engine.verify()
    }
}
