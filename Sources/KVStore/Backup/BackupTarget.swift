#if canImport(Glibc)
import Glibc
#endif

/// The directory a backup goes to, and how it is replaced (FORMAT.md §14).
///
/// A backup is assembled in a staging directory beside the target (`.NAME.kvbackup`, in the same
/// parent, so on the same file system) and swapped with the target in one `renameat2(
/// RENAME_EXCHANGE)`: before the swap the target is the old backup (or empty), after it the new
/// one, each complete; whatever is left at the staging name is removed then, or by the next backup.
/// The target is locked like a store (its directory's `flock`) for the whole update, so that no
/// writer opens the backup while it is replaced, and no second backup runs into it.
final class BackupTarget {
    let path: String
    let staging: String
    let parent: String
    /// The earlier backup in the target, `nil` when it is empty.
    let prior: BackupManifest?
    private var lock: StoreLock?

    /// Opens (creating it if missing) and checks the target for a backup of the store `storeID`.
    /// Anything else than an empty directory or an earlier backup of that store is refused with
    /// ``KVError/Code/notABackup`` before anything in it changes.
    init(path: String, storeID: UInt64, source: String) throws(KVError) {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.path = trimmed
        let slash = trimmed.lastIndex(of: "/")
        let base = slash.map { String(trimmed[trimmed.index(after: $0)...]) } ?? trimmed
        parent = slash.map { $0 == trimmed.startIndex ? "/" : String(trimmed[..<$0]) } ?? "."
        staging = (parent == "/" ? "" : parent) + "/." + base + ".kvbackup"
        guard !base.isEmpty, base != ".", base != ".." else {
            throw KVError(.invalidArgument, "a backup needs a directory with a name of its own", path: path)
        }
        if let a = Sys.identity(ofPath: trimmed), let b = Sys.identity(ofPath: source), a == b {
            throw KVError(.invalidArgument, "a store cannot be backed up into its own directory", path: path)
        }
        if let a = Sys.identity(ofPath: parent), let b = Sys.identity(ofPath: source), a == b {
            throw KVError(.invalidArgument, "a backup cannot go inside the store's own directory", path: path)
        }
        // A link would be swapped for a directory, and the backup made where the link is, not
        // where it points: name the directory itself.
        if Sys.isSymbolicLink(trimmed) {
            throw KVError(.invalidArgument, "the backup target is a symbolic link: give the directory it points to", path: trimmed)
        }
        switch Sys.kind(of: trimmed) {
        case .missing:
            do { try Sys.makeDirectory(trimmed) } catch where error == .exists {} catch { throw error.kvError("mkdir", path: trimmed) }
        case .directory: break
        case .file, .other:
            throw KVError(.notABackup, "the backup target is not a directory", path: trimmed)
        }
        // The swap renames the target within its parent: a mount point cannot be renamed.
        if let a = Sys.identity(ofPath: trimmed), let b = Sys.identity(ofPath: parent), a.device != b.device {
            throw KVError(.invalidArgument, "the backup target is a mount point, which cannot be swapped for a new backup: "
                          + "back up into a directory inside it", path: trimmed)
        }
        lock = try StoreLock.acquire(directory: trimmed)
        let names: [String]
        do { names = try Sys.listDirectory(trimmed) } catch { throw error.kvError("readdir", path: trimmed) }
        var segments: [UInt32: Int64] = [:]
        for name in names {
            if let id = FileNames.segmentID(of: name, suffix: FileNames.segmentSuffix) {
                segments[id] = Self.size(of: trimmed + "/" + name) ?? -1
            }
        }
        let meaningful = names.filter { $0 != FileNames.lock }
        if meaningful.isEmpty {
            prior = nil
            return
        }
        let manifestPath = trimmed + "/" + BackupManifest.name
        guard Sys.kind(of: manifestPath) == .file else {
            throw KVError(.notABackup, names.contains(FileNames.manifest)
                          ? "the target is a store, not a backup of one: back up into an empty or missing directory"
                          : "the target holds files that are not a backup: back up into an empty or missing directory", path: trimmed)
        }
        // Only what a backup writes, or the update would hide the rest in the staging directory.
        if let other = names.first(where: { !Self.isBackupFile($0) || Sys.kind(of: trimmed + "/" + $0) != .file || Sys.isSymbolicLink(trimmed + "/" + $0) }) {
            throw KVError(.notABackup, "the target holds \(other), which no backup writes: back up into another directory, "
                          + "or move it away", path: trimmed)
        }
        let manifest = try BackupManifest.decode(readWholeFile(manifestPath), path: manifestPath)
        let storePath = trimmed + "/" + FileNames.manifest
        let store = try? Manifest.decode(readWholeFile(storePath), path: storePath)
        guard manifest.storeID == storeID, store?.storeID == storeID else {
            throw KVError(.notABackup, "the target is a backup of another store (id \(String(manifest.storeID, radix: 16))); "
                          + "this store's id is \(String(storeID, radix: 16))", path: trimmed)
        }
        // A backup that was opened as a store and written to holds writes of its own now.
        let recorded = Dictionary(manifest.entries.filter { $0.kind == .segment }.map { ($0.id, $0.size) }, uniquingKeysWith: { a, _ in a })
        guard recorded == segments else {
            throw KVError(.notABackup, "the target's segments are not the ones its backup manifest lists: it was opened and "
                          + "written to since the backup was made; back up into another directory, or remove it", path: trimmed)
        }
        prior = manifest
    }

    /// Makes an empty staging directory, removing what an interrupted backup left there, and
    /// checks that the file system can swap it with the target (before anything is copied).
    func prepareStaging() throws(KVError) {
        try removeStaging()
        do { try Sys.makeDirectory(staging) } catch { throw error.kvError("mkdir", path: staging) }
        let probes = Self.probeNames.map { staging + "/" + $0 }
        for probe in probes {
            do { try Sys.makeDirectory(probe) } catch { throw error.kvError("mkdir", path: probe) }
        }
        defer { for probe in probes { _ = try? Sys.removeDirectory(probe) } }
        do { try Sys.exchange(probes[0], probes[1]) } catch {
            throw KVError(.unsupported, "the file system cannot swap two directories in one step (renameat2 RENAME_EXCHANGE: "
                          + "\(error)), which a backup needs to replace an earlier one safely", path: parent, errno: error.rawValue)
        }
    }

    /// The two empty directories `prepareStaging` swaps to learn that the file system can.
    static let probeNames = ["exchange-probe-a", "exchange-probe-b"]

    /// Swaps the staging directory with the target, makes that durable, and removes the old
    /// backup. `exchanged` runs as soon as the swap is made: from then on the new backup is the
    /// target, whatever fails after.
    func commit(exchanged: () -> Void) throws(KVError) {
        do { try Sys.syncDirectory(staging) } catch { throw error.kvError("fsync", path: staging) }
        do { try Sys.exchange(staging, path) } catch { throw error.kvError("renameat2", path: path) }
        exchanged()
        do { try Sys.syncDirectory(parent) } catch { throw error.kvError("fsync", path: parent) }
        // The old backup (or the empty directory) is garbage now: a failure here costs disk
        // space until the next backup, nothing else.
        try? removeStaging()
        _ = try? Sys.syncDirectory(parent)
    }

    /// Removes the staging directory: only files of the names a backup writes, and no
    /// subdirectory, so that a mistaken path never removes anything else.
    func removeStaging() throws(KVError) {
        // Never followed: a link planted at the staging name must not empty the directory it names.
        if Sys.isSymbolicLink(staging) {
            throw KVError(.notABackup, "a symbolic link is in the way of the backup's staging directory: remove it", path: staging)
        }
        guard Sys.kind(of: staging) == .directory else {
            if Sys.kind(of: staging) != .missing {
                throw KVError(.notABackup, "a file is in the way of the backup's staging directory", path: staging)
            }
            return
        }
        let names: [String]
        do { names = try Sys.listDirectory(staging) } catch { throw error.kvError("readdir", path: staging) }
        for name in names where Self.probeNames.contains(name) && !Sys.isSymbolicLink(staging + "/" + name) {
            _ = try? Sys.removeDirectory(staging + "/" + name)
        }
        for name in names where !Self.probeNames.contains(name)
            && (!Self.isBackupFile(name) || Sys.kind(of: staging + "/" + name) != .file || Sys.isSymbolicLink(staging + "/" + name)) {
            throw KVError(.notABackup, "the staging directory holds \(name), which no backup writes: remove it by hand", path: staging)
        }
        for name in names where !Self.probeNames.contains(name) {
            do { try Sys.unlink(staging + "/" + name) } catch { throw error.kvError("unlink", path: staging + "/" + name) }
        }
        do { try Sys.removeDirectory(staging) } catch { throw error.kvError("rmdir", path: staging) }
    }

    static func size(of path: String) -> Int64? {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return nil }
        defer { Sys.close(fd) }
        return try? Sys.fileSize(fd)
    }

    /// Releases the target's lock.
    func close() { lock = nil }

    static func isBackupFile(_ name: String) -> Bool {
        if [FileNames.manifest, FileNames.lock, FileNames.index, BackupManifest.name].contains(name) { return true }
        if name.hasSuffix(FileNames.temporarySuffix) { return true }
        return FileNames.segmentID(of: name, suffix: FileNames.segmentSuffix) != nil
            || FileNames.segmentID(of: name, suffix: FileNames.hintSuffix) != nil
            || FileNames.dictionaryID(of: name) != nil
            || name.hasSuffix(FileNames.segmentSuffix + FileNames.lostSuffix)
    }
}
