/// An error thrown by a ``Store`` operation.
///
/// Every error has a ``code`` to switch on and a human-readable ``message``. Where they apply, it
/// also names the file (``path``), the byte ``offset`` in that file, and the operating system's
/// error number (``errno``). Messages never contain key or value bytes, so errors are safe to log.
///
/// ```swift
/// do { try store.set(value, forKey: key) }
/// catch let error as KVError where error.code == .locked { print("another process has the store") }
/// ```
public struct KVError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure happened. New codes may be added in later versions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Thrown when an argument breaks a documented limit: an empty key, a key longer than
        /// ``Store/maximumKeyLength``, a value longer than ``Store/maximumValueLength``, or an
        /// invalid configuration. Nothing was written.
        public static let invalidArgument = Code("invalidArgument")
        /// Thrown when bytes read from a file fail their checksum or describe impossible lengths
        /// or offsets. ``KVError/path`` and ``KVError/offset`` locate the damage. Other keys stay readable.
        public static let corruption = Code("corruption")
        /// Thrown when a system call failed; ``KVError/errno`` holds the error number (`ENOSPC` for a full disk).
        /// After a failed sync the store refuses further writes until it is reopened: a failed sync is
        /// never retried into a false success.
        public static let io = Code("io")
        /// Thrown when another process holds the store's write lock.
        public static let locked = Code("locked")
        /// Thrown by every call made after ``Store/close()-8zwz6``.
        public static let closed = Code("closed")
        /// Thrown when a file was written by a newer, incompatible version of the format.
        public static let incompatibleFormat = Code("incompatibleFormat")
        /// Thrown when the store needs something this build or platform does not provide.
        public static let unsupported = Code("unsupported")
        /// Thrown by writes to a store opened with ``Store/Configuration-swift.struct/readOnly``.
        public static let readOnly = Code("readOnly")
        /// Thrown when the store would go past a limit the operating system sets on the process:
        /// locking an index larger than `RLIMIT_MEMLOCK` in memory
        /// (``Store/Configuration-swift.struct/lockIndexInMemory``). Nothing was changed.
        public static let resourceLimit = Code("resourceLimit")
        /// Thrown when the path is a file, or a non-empty directory that does not hold a store.
        /// Nothing in it is changed.
        public static let notAStore = Code("notAStore")
        /// Thrown by ``Store/backup(to:progress:)`` when the target holds something other than an
        /// earlier backup of this store: another store's backup, a store, other files, or a backup
        /// that was opened and written to since it was made. Nothing in it is changed.
        public static let notABackup = Code("notABackup")
    }

    /// What kind of failure happened.
    public var code: Code
    /// A description of what went wrong, without key or value bytes.
    public var message: String
    /// The file involved, when there is one.
    public var path: String?
    /// The byte offset in ``path`` where the problem was found, when known.
    public var offset: Int64?
    /// The operating system's error number, for ``Code/io`` errors.
    public var errno: Int32?
    /// The system call that failed (`"open"`, `"fdatasync"`, `"posix_fallocate"`…), for errors
    /// that come from one: the cause, beside ``errno``.
    public var systemCall: String?

    /// Creates an error. The library creates these; tests and wrappers may too.
    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int64? = nil, errno: Int32? = nil,
                systemCall: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
        self.systemCall = systemCall
    }

    public var description: String {
        var text = "KVError.\(code): \(message)"
        if let path { text += " (path: \(path)" + (offset.map { ", offset: \($0)" } ?? "") + ")" }
        else if let offset { text += " (offset: \(offset))" }
        if let errno { text += " [errno \(errno): \(Errno(errno).description)]" }
        return text
    }
}

extension KVError {
    static func corruption(_ message: String, path: String, offset: Int64) -> KVError {
        KVError(.corruption, message, path: path, offset: offset)
    }

    static func closed() -> KVError {
        KVError(.closed, "the store is closed")
    }
}
