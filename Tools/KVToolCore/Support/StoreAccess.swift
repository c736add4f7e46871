#if canImport(Glibc)
import Glibc
#endif
import KVStore

/// Finding and opening the store a command names, with the checks that keep bad input from
/// creating or changing anything.
enum StoreAccess {
    /// What a command does with the store.
    enum Purpose {
        /// Reads only: stat, segments, get, scan, verify, export, compact --dry-run. Works beside a
        /// writer in another process.
        case inspect
        /// Writes to an existing store.
        case modify
        /// Writes, creating the store when the path is missing or an empty directory.
        case create
    }

    /// The configuration a command opens the store with.
    static func configuration(for purpose: Purpose) -> Store.Configuration {
        var configuration = Store.Configuration()
        // Inspection must not change a byte of the store: no index marked open, no torn tail
        // wiped, no hint written. It takes no lock either (a live reader): it works while another
        // process has the store open for writing, and a writer may open the store meanwhile.
        // Writes still take the lock, and give `.locked` while a writer lives.
        configuration.readOnly = purpose == .inspect
        return configuration
    }

    /// `path` without trailing slashes (but `/` stays `/`).
    static func normalize(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    /// `path` as an absolute path with every symbolic link, `.` and `..` resolved, also when its
    /// last components do not exist yet: the deepest existing ancestor is resolved by the system,
    /// the rest lexically (nothing below a missing directory can be a link). `nil` when even `/`
    /// cannot be resolved or the working directory is unknown.
    static func resolvedPath(_ path: String) -> String? {
        var absolute = path
        if !path.hasPrefix("/") {
            guard let cwd = getcwd(nil, 0) else { return nil }
            absolute = String(cString: cwd) + "/" + path
            free(cwd)
        }
        let components = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        for existing in stride(from: components.count, through: 0, by: -1) {
            let head = "/" + components[..<existing].joined(separator: "/")
            guard let real = realpath(head, nil) else { continue }
            var parts = String(cString: real).split(separator: "/").map(String.init)
            free(real)
            for part in components[existing...] {
                switch part {
                case ".": continue
                case "..": if !parts.isEmpty { parts.removeLast() }
                default: parts.append(part)
                }
            }
            return "/" + parts.joined(separator: "/")
        }
        return nil
    }

    /// Checks that `path` holds a store this build can read, without opening it or changing
    /// anything. With `allowCreate`, a missing path, an empty directory, or one that looks like a
    /// store being created by another process passes too, and the open decides.
    /// - Returns: whether a store exists there.
    /// `offerCreate` adds "use --create" to the message for a missing store.
    @discardableResult
    static func check(_ path: String, allowCreate: Bool = false, offerCreate: Bool = false) throws -> Bool {
        switch Store.toolingPathKind(path) {
        case .missing:
            if allowCreate { return false }
            throw ToolError(ExitStatus.noInput, "\(path): no such store" + (offerCreate ? " (use --create to make a new one)" : ""))
        case .file, .other:
            throw ToolError(ExitStatus.noInput, "\(path): not a store (not a directory)")
        case .directory:
            // Twice: another process may rename its manifest into place between the first read
            // and the look at what else the directory holds.
            for attempt in 0..<2 {
                do {
                    _ = try Store.toolingReadManifest(directory: path)
                    return true
                } catch where allowCreate && error.code != .incompatibleFormat && Store.toolingMayBeBeingCreated(directory: path) {
                    // Another process may be creating the store right now, under the store's lock:
                    // what this process saw a moment ago decides nothing. Store(path:) looks again
                    // under the lock and creates the store, opens it, or throws a typed error
                    // (.locked, .notAStore).
                    return false
                } catch where allowCreate && attempt == 0 && error.code == .notAStore {
                    continue
                } catch where error.code == .notAStore {
                    throw ToolError(ExitStatus.noInput, "\(path): not a KVStore directory (no valid \(Store.toolingFileNames.manifest) file)")
                } catch {
                    throw ToolError(error, subject: path)
                }
            }
            return true
        }
    }

    /// Checks `path` (see ``check(_:allowCreate:offerCreate:)``) and opens the store for `purpose`.
    static func open(_ path: String, for purpose: Purpose) throws -> Store {
        try check(path, allowCreate: purpose == .create)
        return try translatingErrors(subject: path) {
            try Store(path: path, configuration: configuration(for: purpose))
        }
    }

    /// Opens the store, runs `body` and closes the store (also when `body` throws).
    static func with<R>(_ path: String, for purpose: Purpose, _ body: (Store) throws -> R) throws -> R {
        let store = try open(path, for: purpose)
        let result: R
        do { result = try body(store) } catch {
            try? store.close()
            throw ToolError.wrap(error, subject: path)
        }
        try translatingErrors(subject: path) { try store.close() }
        return result
    }

    /// The error for a cursor that met a damaged record (exit status 65): where it is, and what
    /// copies the rest. A cursor cannot step over damage: what follows has no position it could
    /// go on from.
    static func stoppedAtDamage(_ error: KVError, store: String, after count: Int) -> ToolError {
        let place = (error.path ?? store) + (error.offset.map { " @\($0)" } ?? "")
        return ToolError(ExitStatus.dataError, "\(place): \(error.message); stopped there after \(Format.count(count)) pair\(count == 1 ? "" : "s"), "
                         + "as the store cannot list past a damaged record: `kvtool salvage \(store) --output DIR` "
                         + "copies every record that checks out into a new store")
    }

    /// Rejects a key the store would refuse, before anything is opened.
    static func checkKey(_ key: [UInt8]) throws {
        guard !key.isEmpty else { throw ToolError(ExitStatus.usage, "keys must not be empty") }
        guard key.count <= Store.maximumKeyLength else {
            throw ToolError(ExitStatus.usage, "the key is \(key.count) bytes long; the limit is \(Store.maximumKeyLength)")
        }
    }
}
