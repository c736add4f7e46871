#if canImport(Glibc)
import Glibc
#endif

/// The few file-system operations the harness needs (directories, listing, sizes), over Glibc.
enum FileSystem {
    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents (`mkdir -p`).
    static func makeDirectories(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if !parent.isEmpty && parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw BenchError.system("mkdir", path) }
    }

    /// Removes `path` and everything below it (`rm -rf`); a missing path is not an error.
    static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in try entries(of: path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw BenchError.system("rmdir", path) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw BenchError.system("unlink", path)
        }
    }

    /// Names in directory `path`, without "." and "..", sorted.
    static func entries(of path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw BenchError.system("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Paths of all regular files below `path`, recursively.
    static func regularFiles(under path: String) -> [String] {
        guard let names = try? entries(of: path) else { return [] }
        var files: [String] = []
        for name in names {
            let child = path + "/" + name
            var st = stat()
            guard lstat(child, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: files += regularFiles(under: child)
            case S_IFREG: files.append(child)
            default: break
            }
        }
        return files
    }

    /// Bytes allocated on disk (st_blocks × 512) by all regular files below `path`.
    static func allocatedBytes(under path: String) -> Int64 {
        var total: Int64 = 0
        for file in regularFiles(under: path) {
            var st = stat()
            if stat(file, &st) == 0 { total += Int64(st.st_blocks) * 512 }
        }
        return total
    }

    /// Size in bytes of the file at `path`, or nil.
    static func size(of path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    /// Creates a fresh directory under `$TMPDIR` (or /tmp) named `prefix.XXXXXX`.
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/" + prefix + ".XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw BenchError.system("mkdtemp", base) }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The directory part of `path` ("" when there is none).
    static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The absolute path of the running executable (`/proc/self/exe`).
    static func currentExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return buffer.withUnsafeBufferPointer { p in
            String(decoding: UnsafeRawBufferPointer(start: p.baseAddress, count: n), as: UTF8.self)
        }
    }

    /// Reads a whole small text file (e.g. under /proc), or nil.
    static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
