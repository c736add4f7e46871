#if canImport(Glibc)
import Glibc
#endif
import KVStore

/// A file written under a temporary name in its directory and renamed into place only once it is
/// whole and on disk: a failed or interrupted command leaves neither half a file under the final
/// name nor the temporary one.
final class AtomicOutputFile {
    let path: String
    let fd: Int32
    /// The name renamed onto: `path`, or the file a symbolic link there points at (so that the
    /// link keeps working).
    private let target: String
    /// `nil` for a device or FIFO given with --force: written straight, as there is no file to
    /// rename over (and renaming over /dev/stdout would replace the device node).
    private let temporary: String?
    private let replace: Bool
    private var finished = false

    /// Creates the temporary file. Refuses an existing `path` (exit status 73) unless `replace`.
    init(_ path: String, replace: Bool) throws {
        self.path = path
        self.replace = replace
        var target = path
        switch Store.toolingPathKind(path) {
        case .missing: break
        case .directory: throw ToolError(ExitStatus.cannotCreate, "\(path): cannot create: it is a directory")
        case .file, .other:
            if !replace { throw ToolError(ExitStatus.cannotCreate, "\(path): cannot create: File exists (use --force to replace it)") }
            if Store.toolingPathKind(path) == .other {
                let opened = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
                guard opened >= 0 else { throw Self.cannotCreate(path, errno) }
                (fd, self.target, temporary) = (opened, path, nil)
                return
            }
            if let real = realpath(path, nil) {
                target = String(cString: real)
                free(real)
            }
        }
        self.target = target
        let (directory, name) = Self.split(target)
        var template = Array((directory + "/." + name + ".kvtool-XXXXXX").utf8CString)
        let opened = mkstemp(&template)
        guard opened >= 0 else { throw Self.cannotCreate(path, errno) }
        fd = opened
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        self.temporary = temporary
        // mkstemp makes the file 0600; the export gets the mode a plain create would give it.
        let mask = umask(0)
        umask(mask)
        fchmod(fd, 0o644 & ~mask)
        AtomicOutputFile.cleanUpOnSignal(temporary)
    }

    deinit { if !finished { abandon() } }

    /// Flushes `buffer`, syncs the file and renames it into place (without replacing a file that
    /// appeared meanwhile, unless `replace`), then syncs the directory.
    func commit(_ buffer: inout OutputBuffer) throws {
        buffer.flush()
        if buffer.failure != 0 { throw failure("write", buffer.failure) }
        guard let temporary else {
            finished = true
            close(fd)
            return
        }
        if fsync(fd) != 0 { throw failure("fsync", errno) }
        close(fd)
        finished = true
        defer { AtomicOutputFile.cleanUpOnSignal(nil) }
        if replace {
            guard rename(temporary, target) == 0 else { throw failure("rename", errno, removing: temporary) }
        } else if link(temporary, target) == 0 {
            unlink(temporary)
        } else {
            let code = errno
            if code == EEXIST {
                unlink(temporary)
                throw ToolError(ExitStatus.cannotCreate, "\(path): cannot create: File exists (use --force to replace it)")
            }
            // A file system without hard links: rename, having checked the name is still free.
            guard code == EPERM || code == EOPNOTSUPP || code == ENOTSUP, Store.toolingPathKind(target) == .missing,
                  rename(temporary, target) == 0 else { throw failure("link", code, removing: temporary) }
        }
        let directory = Self.split(target).directory
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            defer { close(dfd) }
            if fsync(dfd) != 0 { throw ToolError(ExitStatus.ioError, "\(directory): fsync failed: \(String(cString: strerror(errno)))") }
        }
    }

    /// Closes and removes the temporary file.
    func abandon() {
        guard !finished else { return }
        finished = true
        close(fd)
        if let temporary { unlink(temporary) }
        AtomicOutputFile.cleanUpOnSignal(nil)
    }

    private func failure(_ call: String, _ code: Int32, removing: String? = nil) -> ToolError {
        if let removing { unlink(removing) } else { abandon() }
        return ToolError(ExitStatus.ioError, "\(path): \(call) failed: \(String(cString: strerror(code)))")
    }

    private static func cannotCreate(_ path: String, _ code: Int32) -> ToolError {
        ToolError(ExitStatus.ioError, "\(path): cannot create: \(String(cString: strerror(code)))")
    }

    /// The directory (`.` for a bare name, `/` at the root) and the last component.
    private static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    // MARK: Signals

    /// The temporary file's name for the signal handler, which may only make async-signal-safe
    /// calls (no allocation): kept as a C string ahead of time.
    nonisolated(unsafe) private static var pending: UnsafeMutablePointer<CChar>?

    /// Removes `temporary` if SIGINT, SIGTERM or SIGHUP ends the process before the commit;
    /// `nil` stops doing so. kvtool writes one output file at a time.
    private static func cleanUpOnSignal(_ temporary: String?) {
        if let old = pending {
            pending = nil
            free(old)
        }
        guard let temporary else {
            for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_DFL) }
            return
        }
        pending = strdup(temporary)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { sig in
                if let name = AtomicOutputFile.pending { unlink(name) }
                // Dies of the signal as it would have, now that the file is gone.
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }
}
