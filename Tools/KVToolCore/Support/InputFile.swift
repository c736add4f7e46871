#if canImport(Glibc)
import Glibc
#endif
import KVStore

/// An input file or standard input (`-`), read whole or line by line.
final class InputFile {
    /// The name used in messages: the path, or `stdin`.
    let name: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the next newline resumes (everything before it was searched).
    private var searched = 0
    private var atEnd = false

    /// Opens `path` for reading (`-` is standard input).
    /// - Throws: ``ToolError`` with exit status 66 when it is missing, unreadable or a directory.
    init(_ path: String) throws {
        if path == "-" {
            name = "stdin"
            fd = 0
            ownsDescriptor = false
            return
        }
        name = path
        if Store.toolingPathKind(path) == .directory {
            throw ToolError(ExitStatus.noInput, "\(path): is a directory")
        }
        let opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else {
            throw ToolError(ExitStatus.noInput, "\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        fd = opened
        ownsDescriptor = true
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// Whether the input is a regular file (so it can be read twice).
    var isRegularFile: Bool { fd != 0 && Store.toolingPathKind(name) == .file }

    /// Everything left to read.
    func readAll() throws -> [UInt8] {
        while try fill() {}
        let rest = Array(buffer[start...])
        buffer = []
        start = 0
        searched = 0
        return rest
    }

    /// The next line without its `\n` (and without a `\r` before it), or `nil` at the end.
    func nextLine() throws -> [UInt8]? {
        while true {
            if let newline = buffer[max(start, searched)...].firstIndex(of: 0x0A) {
                var end = newline
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                let line = Array(buffer[start..<end])
                start = newline + 1
                searched = start
                return line
            }
            searched = buffer.count
            if !(try fill()) {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
        }
    }

    /// Goes back to the start of a regular file.
    func rewind() throws {
        guard lseek(fd, 0, SEEK_SET) == 0 else {
            throw ToolError(ExitStatus.ioError, "\(name): cannot seek: \(String(cString: strerror(errno)))")
        }
        buffer = []
        start = 0
        searched = 0
        atEnd = false
    }

    /// Reads more; `false` at the end of the input.
    private func fill() throws -> Bool {
        if atEnd { return false }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            searched -= start
            start = 0
        }
        let chunk = 1 << 16
        let old = buffer.count
        buffer += [UInt8](repeating: 0, count: chunk)
        var n: Int
        repeat {
            n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, chunk) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else {
            let message = String(cString: strerror(errno))
            buffer.removeLast(chunk)
            throw ToolError(ExitStatus.ioError, "\(name): read failed: \(message)")
        }
        buffer.removeLast(chunk - n)
        if n == 0 { atEnd = true }
        return n > 0
    }
}
