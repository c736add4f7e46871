#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error number returned by a system call. Internal: the public surface is ``KVError``.
struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    var rawValue: Int32
    init(_ rawValue: Int32) { self.rawValue = rawValue }

    static var current: Errno { Errno(errno) }

    static let wouldBlock = Errno(EWOULDBLOCK)
    static let notFound = Errno(ENOENT)
    static let exists = Errno(EEXIST)
    static let ioError = Errno(EIO)
    /// `O_NOFOLLOW` met a symbolic link.
    static let tooManySymbolicLinks = Errno(ELOOP)
    /// Not an errno of the system: `Sys.open` found something other than a regular file.
    static let notRegularFile = Errno(-1)

    var description: String {
        self == .notRegularFile ? "not a regular file (a FIFO, device or socket)" : String(cString: strerror(rawValue))
    }

    /// Converts to the public error, naming the call and the file, and for the errors a user can
    /// act on, what to do.
    func kvError(_ call: String, path: String?, offset: Int64? = nil) -> KVError {
        KVError(.io, "\(call) failed: \(description)" + (advice.map { "; " + $0 } ?? ""), path: path, offset: offset,
                errno: rawValue > 0 ? rawValue : nil, systemCall: call)
    }

    private var advice: String? {
        switch rawValue {
        case ENOENT: "a file of the store is missing: was it removed from the store directory?"
        case EACCES, EPERM: "check that this user may read and write the store directory and every file in it"
        case EROFS: "the file system is read-only: open the store with Configuration.readOnly"
        case ENOSPC: "the disk is full: free space and try again (nothing written so far is lost)"
        case EMFILE, ENFILE: "too many open files: raise the descriptor limit (ulimit -n) or lower Configuration.maximumOpenFiles"
        default: nil
        }
    }
}
