#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, whose stdout is a pipe to us (used by `recover`).
final class ChildProcess {
    let pid: pid_t
    private let output: Int32
    private var exited = false

    /// Starts `executable` with `arguments` (argv[1...]); stdin and stderr are inherited.
    init(executable: String, arguments: [String]) throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw BenchError.system("pipe", executable) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child = pid_t()
        let rc = argv.withUnsafeBufferPointer { argvBuffer in
            posix_spawn(&child, executable, &actions, nil, argvBuffer.baseAddress!, environ)
        }
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw BenchError.system("posix_spawn", executable, errno: rc)
        }
        pid = child
        output = fds[0]
    }

    deinit {
        close(output)
        if !exited {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Reads the child's stdout until a line equal to `line`; throws if the child ends first.
    func waitForLine(_ line: String) throws {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let status = waitForExit()
                throw BenchError("child process ended (status \(status)) before printing \"\(line)\"")
            }
            pending += chunk[0..<n]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let text = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if text == line { return }
            }
        }
    }

    /// Sends SIGKILL and reaps the child.
    func killNow() {
        kill(pid, SIGKILL)
        _ = waitForExit()
    }

    /// Waits for the child to end and returns its raw wait status.
    @discardableResult
    func waitForExit() -> Int32 {
        guard !exited else { return 0 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exited = true
        return status
    }
}
