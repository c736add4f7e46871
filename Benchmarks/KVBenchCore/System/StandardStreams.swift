#if canImport(Glibc)
import Glibc
#endif

/// Writes to file descriptors 1 and 2 directly: the C `stderr`/`stdout` globals are not concurrency-safe in Swift 6,
/// and `print` buffers stdout, which would interleave badly with progress lines on stderr.
enum StandardStreams {
    /// Whether stderr is a terminal (progress lines are shown only then).
    static var stderrIsTerminal: Bool { isatty(2) != 0 }

    /// Writes `text` to stderr.
    static func error(_ text: String) { write(text, to: 2) }

    /// Writes `text` to stdout.
    static func output(_ text: String) { write(text, to: 1) }

    /// Writes all of `text` to `fd`, retrying short writes and EINTR; other errors drop the text.
    static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n > 0 {
                    done += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
