import Synchronization

/// Deletions of store files that wait while a backup needs the files: compaction and dictionary
/// retirement delete through here, and ``Store/backup(to:progress:)`` holds a pin from the moment
/// it captures the list of files until every one is linked or copied (FORMAT.md §14).
///
/// A deferred file is already out of the readers' table; on disk it is exactly what a crash
/// between compaction's copy and its deletion leaves, which recovery handles (FORMAT.md §7).
final class DeferredDeletions: Sendable {
    private struct State {
        var pins = 0
        var waiting: [String] = []
    }
    private let state = Mutex(State())

    /// Unlinks `path` now, or when the last pin goes.
    func unlink(_ path: String) throws(Errno) {
        let deferred = state.withLock { s -> Bool in
            guard s.pins > 0 else { return false }
            s.waiting.append(path)
            return true
        }
        if !deferred { try Sys.unlink(path) }
    }

    /// Holds every deletion from now on until the matching ``unpin()``.
    func pin() { state.withLock { $0.pins += 1 } }

    /// Lets deletions go again; the last pin out performs the ones that waited (best effort: a
    /// file that cannot be removed now is what a crash before the deletion would leave).
    func unpin(directory: String) {
        let due = state.withLock { s -> [String] in
            assert(s.pins > 0, "unpinned more often than pinned")
            s.pins -= 1
            guard s.pins == 0 else { return [] }
            defer { s.waiting = [] }
            return s.waiting
        }
        guard !due.isEmpty else { return }
        for path in due { _ = try? Sys.unlink(path) }
        _ = try? Sys.syncDirectory(directory)
    }

}
