#if canImport(Glibc)
import Glibc
#endif

/// Whole-buffer pread/pwrite with EINTR and short transfers handled, for the floor engine.
enum FloorIO {
    /// Writes `count` bytes at `offset`.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, at offset: Int64, path: String) throws {
        var done = 0
        while done < count {
            let n = pwrite(fd, bytes + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError.system("pwrite", path)
            }
            done += n
        }
    }

    /// Reads `count` bytes at `offset`; throws at end of file.
    static func readAll(_ fd: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int, at offset: Int64,
                        path: String) throws {
        var done = 0
        while done < count {
            let n = pread(fd, bytes + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError.system("pread", path)
            }
            if n == 0 { throw BenchError("pread \(path): unexpected end of file at \(offset + Int64(done))") }
            done += n
        }
    }

    /// Reads up to `count` bytes at `offset`; returns how many (fewer only at end of file).
    static func readSome(_ fd: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int, at offset: Int64,
                         path: String) throws -> Int {
        var done = 0
        while done < count {
            let n = pread(fd, bytes + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError.system("pread", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}
