#if canImport(Glibc)
import Glibc
#endif
import KVStore

/// How a read-only open reaches a store (``Store/Access``), in the words every command uses.
///
/// A read-only open takes no lock, so the inspection commands work while another process has the
/// store open for writing, and see that writer's writes. They say so: `stat` and `verify` in their
/// output, `segments`, `scan`, `export` and `dump` in a note on stderr (their stdout is data),
/// `get` nowhere (one value is read whole, as of one moment).
struct LiveAccess {
    var access: Store.Access

    /// The access of a store this command opened read-only.
    init(_ store: Store, path: String) throws {
        access = try translatingErrors(subject: path) { try store.access }
    }

    init(_ access: Store.Access) {
        self.access = access
    }

    /// The process id of the writer that has the store open now, when it is known.
    var writerProcessID: Int32? {
        if case .liveReader(let pid) = access { return pid }
        return nil
    }

    /// Whether a writer has the store open now: its writes go on while the command reads.
    var hasWriter: Bool { writerProcessID != nil }

    /// `live (writer pid 1234)`, `live (no writer)`, or `snapshot (no live writer; index rebuilt
    /// privately)`.
    var summary: String {
        switch access {
        case .writer: return "writer"
        case .liveReader(let pid?): return "live (writer pid \(pid))"
        case .liveReader(nil): return "live (no writer)"
        case .snapshotReader: return "snapshot (no live writer; index rebuilt privately)"
        }
    }

    /// `"access"`: `"live"`, `"snapshot"` (or `"writer"`), and `"writerPID"`: the writer's
    /// process id or null.
    var jsonFields: [(String, JSON)] {
        let kind: String
        switch access {
        case .writer: kind = "writer"
        case .liveReader: kind = "live"
        case .snapshotReader: kind = "snapshot"
        }
        return [("access", .string(kind)), ("writerPID", writerProcessID.map { .int($0) } ?? .null)]
    }

    /// Writes `kvtool: note: SUBJECT: live (writer pid N): CAVEAT` to stderr when a writer has the
    /// store open; nothing otherwise.
    func noteIfWriting(_ subject: String, _ caveat: String) {
        guard hasWriter else { return }
        Console.diagnostic("note: \(subject): \(summary): \(caveat)")
    }

    /// What a cursor over a store that is being written promises (``Store/entries()``).
    static func cursorCaveat(_ command: String) -> String {
        "every pair it leaves alone is listed once; one it writes, removes or compacts while the \(command) runs may be missed or listed twice"
    }

    // MARK: - Write commands

    /// The message for a write command refused because another process has the store open for
    /// writing (exit status 75). Names the writer's process id when a live reader, opened for a
    /// moment, can read it from the store.
    static func lockedMessage(store: String) -> String {
        lockedMessage(writerProcessID: writerProcessID(store: store))
    }

    static func lockedMessage(writerProcessID pid: Int32?) -> String {
        let who = pid.map { "process \($0)" } ?? "another process"
        return "locked: \(who) has the store open for writing; try again when it has closed it (read commands work meanwhile)"
    }

    /// The process id of the writer that has the store at `store` open, read through a live
    /// reader opened and closed at once; `nil` when there is none or it cannot be told.
    private static func writerProcessID(store: String) -> Int32? {
        var configuration = Store.Configuration()
        configuration.readOnly = true
        guard let reader = try? Store(path: store, configuration: configuration) else { return nil }
        defer { try? reader.close() }
        return (try? reader.access).flatMap { LiveAccess($0).writerProcessID }
    }

    // MARK: - Without opening the store

    /// Whether a process holds the store's lock now: the `flock` on its directory that a writer
    /// takes (README: Limits). A shared lock is taken without waiting and dropped at once, as a
    /// live reader tests for its writer, so a writer that opens meanwhile is not kept out.
    /// `false` when the directory cannot be opened.
    static func writerHoldsLock(directory: String) -> Bool {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        while true {
            if flock(fd, LOCK_SH | LOCK_NB) == 0 {
                _ = flock(fd, LOCK_UN)
                return false
            }
            if errno == EINTR { continue }
            return errno == EWOULDBLOCK
        }
    }
}
