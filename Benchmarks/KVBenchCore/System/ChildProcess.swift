#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, whose stdout is a pipe to us (`recover`, `--processes`).
final class ChildProcess {
    let pid: pid_t
    private let output: Int32
    private var exited = false
    private var status: Int32 = 0
    /// Bytes read from the child's stdout and not yet returned as a line.
    private var pending: [UInt8] = []

    /// Starts `executable` with `arguments` (argv[1...]); stdin and stderr are inherited. `descriptors` maps a
    /// descriptor number of the child to one of ours that it gets there (e.g. 0 to the read end of a pipe).
    init(executable: String, arguments: [String], descriptors: [Int32: Int32] = [:]) throws {
        // Close-on-exec (see `Pipe`); the child's copy on descriptor 1 loses the flag.
        let (outputRead, outputWrite) = try Pipe.makeDescriptors()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outputWrite, 1)
        for (target, source) in descriptors.sorted(by: { $0.key < $1.key }) {
            posix_spawn_file_actions_adddup2(&actions, source, target)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child = pid_t()
        let rc = Pipe.creation.withLock { _ in
            argv.withUnsafeBufferPointer { argvBuffer in
                posix_spawn(&child, executable, &actions, nil, argvBuffer.baseAddress!, environ)
            }
        }
        close(outputWrite)
        guard rc == 0 else {
            close(outputRead)
            throw BenchError.system("posix_spawn", executable, errno: rc)
        }
        pid = child
        output = outputRead
    }

    deinit {
        close(output)
        if !exited {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// The next line the child prints on stdout, without its newline; nil once the child closed its stdout.
    func nextLine() throws -> String? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let text = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return text
            }
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw BenchError.system("read", "the pipe from child process \(pid)") }
            if n == 0 { return nil }
            pending += chunk[0..<n]
        }
    }

    /// Reads the child's stdout until a line equal to `line`; throws if the child ends first.
    func waitForLine(_ line: String) throws {
        while let text = try nextLine() {
            if text == line { return }
        }
        let status = waitForExit()
        throw BenchError("child process ended (status \(status)) before printing \"\(line)\"")
    }

    /// Sends SIGKILL and reaps the child.
    func killNow() {
        kill(pid, SIGKILL)
        _ = waitForExit()
    }

    /// Waits for the child to end and returns its raw wait status (the same status again on later calls).
    @discardableResult
    func waitForExit() -> Int32 {
        guard !exited else { return status }
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exited = true
        return status
    }
}
