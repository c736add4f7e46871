#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A pipe whose two descriptors are close-on-exec, so that no child process inherits them by accident: a write end
/// left open in some other process would keep the read end from ever seeing the end of the data. A child gets one
/// end through `posix_spawn`'s `dup2`, which clears the flag on the copy only.
final class Pipe: Sendable {
    /// Held while a pipe is made and flagged, and around `posix_spawn`: Glibc's Swift module has no `pipe2`, and a
    /// child spawned between `pipe` and `fcntl` by another thread would inherit both ends.
    static let creation = Mutex(())

    let read: Int32
    let write: Int32
    private let open = Mutex<(read: Bool, write: Bool)>((true, true))

    init() throws {
        (read, write) = try Self.makeDescriptors()
    }

    /// A new pipe's read and write descriptors, both close-on-exec; the caller closes them.
    static func makeDescriptors() throws -> (read: Int32, write: Int32) {
        try creation.withLock { _ in
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw BenchError.system("pipe", "a pipe") }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
    }

    /// Closes the read end (once).
    func closeRead() {
        if open.withLock({ let was = $0.read; $0.read = false; return was }) { close(read) }
    }

    /// Closes the write end (once): the reader then sees the end of the data.
    func closeWrite() {
        if open.withLock({ let was = $0.write; $0.write = false; return was }) { close(write) }
    }

    deinit {
        closeRead()
        closeWrite()
    }
}
