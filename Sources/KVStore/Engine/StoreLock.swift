#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The exclusive lock that keeps a second process out of a store (FORMAT.md §1).
///
/// The lock is an `flock` on the store's *directory*, not on a file in it. A lock file can be
/// deleted while a writer holds it ("stale lock" clean-ups do exactly that), and the next process
/// would create a new file, lock that, and write beside the first writer. A directory cannot be
/// removed while it holds the store's files, and renaming it moves the store with it, so the lock
/// always guards the files it is meant to guard.
///
/// The `LOCK` file is still locked too (and created by writers) so that builds which lock only
/// `LOCK` stay out; deleting it is harmless to this build.
///
/// Everything about a directory (does it hold a store, which files are there) is decided only
/// after this lock is taken: deciding first lets two creators each write a `STORE` file.
final class StoreLock: @unchecked Sendable {
    // @unchecked: `legacyFD` is set only during open, before the lock is shared.
    private let directoryFD: Int32
    private var legacyFD: Int32 = -1
    let directory: String

    private let identity: Sys.FileIdentity
    /// The store directories this process holds the lock of.
    private static let heldHere = Mutex(Set<Sys.FileIdentity>())

    private init(directoryFD: Int32, directory: String, identity: Sys.FileIdentity) {
        self.directoryFD = directoryFD
        self.directory = directory
        self.identity = identity
    }

    /// Takes the lock of `directory`, trying again for up to 50 ms. A lock is held by an open
    /// file description, and a child process that this process is starting shares its descriptors
    /// until its `exec` closes them: for those few milliseconds a store closed by this process still
    /// looks locked. Another process that really has the store open is reported after the 50 ms.
    /// An existing `LOCK` file is locked too; none is created (see ``lockLegacyFile()``).
    ///
    /// With `waiting` above zero, a lock another process holds is tried again until that long has
    /// passed (``Store/Configuration-swift.struct/lockWait``).
    static func acquire(directory: String, waiting: Duration = .zero) throws(KVError) -> StoreLock {
        let directoryFD: Int32
        do { directoryFD = try Sys.open(directory, O_RDONLY | O_DIRECTORY) } catch { throw error.kvError("open", path: directory) }
        let identity: Sys.FileIdentity
        do { identity = try Sys.identity(directoryFD) } catch {
            Sys.close(directoryFD)
            throw error.kvError("fstat", path: directory)
        }
        // flock cannot tell this process from another (each open file description is its own
        // holder), so the process remembers which directories it has locked.
        guard Self.heldHere.withLock({ $0.insert(identity).inserted }) else {
            Sys.close(directoryFD)
            throw KVError(.locked, "the store is already open in this process (through this path or another): "
                          + "use that Store, which any number of threads may share, or close it first", path: directory)
        }
        do { try lockBriefly(directoryFD, waiting: waiting) } catch {
            Sys.close(directoryFD)
            _ = Self.heldHere.withLock { $0.remove(identity) }
            if error == .wouldBlock {
                let holder = Sys.flockHolder(of: identity).map { " (pid \($0))" } ?? ""
                let waited = waiting > .zero ? "; waited \(waiting) for it to close" : ""
                throw KVError(.locked, "another process\(holder) has the store open\(waited)", path: directory)
            }
            throw error.kvError("flock", path: directory)
        }
        let lock = StoreLock(directoryFD: directoryFD, directory: directory, identity: identity)
        if Sys.kind(of: directory + "/" + FileNames.lock) != .missing { try lock.lockLegacyFile(create: false) }
        return lock
    }

    /// Locks `LOCK` as well, creating it with `create` (a writer, once it knows the directory is a
    /// store or is making one: a refused directory is left as it was found).
    func lockLegacyFile(create: Bool = true) throws(KVError) {
        guard legacyFD < 0 else { return }
        let path = directory + "/" + FileNames.lock
        let fd: Int32
        do { fd = try Sys.open(path, create ? O_RDWR | O_CREAT : O_RDONLY) } catch { throw error.kvError("open", path: path) }
        do { try Self.lockBriefly(fd) } catch {
            Sys.close(fd)
            if error == .wouldBlock { throw KVError(.locked, "another process has the store open", path: path) }
            throw error.kvError("flock", path: path)
        }
        legacyFD = fd
    }

    /// Tries for 50 ms, or for `waiting` when longer: every 2 ms at first, then less often (at
    /// most every 50 ms), since a writer that is closing takes milliseconds and one that is not
    /// may take hours.
    private static func lockBriefly(_ fd: Int32, waiting: Duration = .zero) throws(Errno) {
        let limit = max(Double(waiting.components.seconds) + Double(waiting.components.attoseconds) / 1e18, 0.05)
        let start = Self.now()
        var pause: UInt32 = 2_000
        while true {
            do { return try Sys.lockExclusive(fd) } catch where error == .wouldBlock && Self.now() - start < limit {
                usleep(pause)
                if Self.now() - start > 0.05 { pause = min(50_000, pause * 2) }
            }
        }
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The descriptor of the locked directory: the store syncs the directory through it, so that a
    /// sync never needs a descriptor it might not get (EMFILE).
    var directoryDescriptor: Int32 { directoryFD }

    deinit {
        if legacyFD >= 0 { Sys.close(legacyFD) }
        Sys.close(directoryFD)
        _ = Self.heldHere.withLock { $0.remove(identity) }
    }
}
