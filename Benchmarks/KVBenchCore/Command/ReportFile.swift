#if canImport(Glibc)
import Glibc
#endif

/// Writes a report file (`--output`).
enum ReportFile {
    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError.system("open", path) }
        defer { close(fd) }
        StandardStreams.write(text, to: fd)
    }
}
