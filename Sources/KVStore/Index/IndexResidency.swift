#if canImport(Glibc)
import Glibc
#endif

/// Keeping the index in memory: every get probes it at a random place, so a probe that has to
/// wait for the disk costs a whole read. The index is advised for random access (a fault reads
/// the page it needs, not a read-ahead window of neighbours no probe will want), read ahead at
/// open when it fits comfortably in memory, and, when the configuration asks, locked there.
extension HashIndex {
    /// An index up to this share of physical memory is read into the page cache at open.
    static let prefetchShareOfMemory = 4

    /// Advice for a freshly opened index mapping: random access; and, when it fits in memory,
    /// `MADV_WILLNEED`, which starts reading it in without making the open wait.
    func adviseForProbes(prefetch: Bool) {
        let base = UnsafeRawPointer(file.base)
        Sys.advise(base, length: file.length, .random)
        let physical = Sys.physicalMemory()
        if prefetch, physical == 0 || file.length <= physical / Self.prefetchShareOfMemory {
            Sys.advise(base, length: file.length, .willNeed)
        }
    }

    /// Whether an index of `length` bytes may be locked in memory: within `RLIMIT_MEMLOCK`.
    static func checkLockable(length: Int, path: String) throws(KVError) {
        if let limit = Sys.memoryLockLimit(), length > limit {
            throw KVError(.resourceLimit,
                          "the index is \(length) bytes, more than the \(limit) bytes this process may lock in memory (RLIMIT_MEMLOCK, ulimit -l); raise the limit or open without lockIndexInMemory",
                          path: path)
        }
    }

    /// Locks the whole index in memory (`mlock`); the pages are read in now.
    func lockInMemory() throws(KVError) {
        try Self.checkLockable(length: file.length, path: file.path)
        do { try Sys.lockInMemory(UnsafeRawPointer(file.base), length: file.length, path: file.path) } catch {
            var failure = error.kvError("mlock", path: file.path)
            if error.rawValue == ENOMEM || error.rawValue == EAGAIN || error.rawValue == EPERM {
                failure = KVError(.resourceLimit, "the index (\(file.length) bytes) could not be locked in memory: \(error)",
                                  path: file.path, errno: error.rawValue, systemCall: "mlock")
            }
            throw failure
        }
    }
}
