#if canImport(Glibc)
import Glibc
#endif

/// Data goes to stdout through one buffer; diagnostics go to stderr a line at a time.
enum Console {
    /// The buffered standard output. Flushed by ``KVTool/run(arguments:)`` before it returns.
    nonisolated(unsafe) static var out = OutputBuffer(fd: 1)

    /// Writes one diagnostic line to stderr, prefixed with `kvtool: `.
    static func diagnostic(_ line: String) {
        out.flush()
        writeAll(2, Array(("kvtool: " + line + "\n").utf8))
    }

    /// Writes raw text to stderr (progress lines).
    static func stderr(_ text: String) {
        writeAll(2, Array(text.utf8))
    }

    /// Whether standard output is a terminal.
    static var stdoutIsTerminal: Bool { isatty(1) == 1 }
    /// Whether standard error is a terminal (progress lines are shown only then).
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Writes all of `bytes`, retrying short writes and `EINTR`. Returns 0, or the `errno` of the
    /// write that failed (callers writing to stdout and stderr drop it: a closed pipe).
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { raw -> Int32 in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return errno }
                if n == 0 { return EIO }
                done += n
            }
            return 0
        }
    }
}

/// An output buffer over a file descriptor, flushed when it passes 64 KiB.
struct OutputBuffer {
    let fd: Int32
    private var bytes: [UInt8] = []
    /// The `errno` of the first write that failed, 0 while none did.
    private(set) var failure: Int32 = 0

    init(fd: Int32) {
        self.fd = fd
        bytes.reserveCapacity(1 << 16)
    }

    /// Appends text.
    mutating func write(_ text: String) {
        bytes.append(contentsOf: text.utf8)
        if bytes.count >= 1 << 16 { flush() }
    }

    /// Appends text and a newline.
    mutating func line(_ text: String) {
        write(text)
        bytes.append(0x0A)
    }

    /// Appends raw bytes.
    mutating func write(bytes more: some Collection<UInt8>) {
        bytes.append(contentsOf: more)
        if bytes.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !bytes.isEmpty else { return }
        let error = Console.writeAll(fd, bytes)
        if failure == 0 { failure = error }
        bytes.removeAll(keepingCapacity: true)
    }
}
