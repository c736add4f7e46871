#if canImport(Glibc)
import Glibc
#endif

/// Puts files into, or drops them from, the OS page cache before a read benchmark.
///
/// This VM reclaims page cache that has been idle for about 60 s, so a "warm" read benchmark must re-read the
/// store's files right before it runs; a `--cold` one syncs them and drops them with `posix_fadvise(DONTNEED)`
/// (which only drops clean pages that nothing maps).
enum PageCache {
    /// Reads every file sequentially (1 MiB preads) so its pages are resident; returns the bytes read.
    @discardableResult
    static func warm(_ files: [String]) -> Int64 {
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        for file in files {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
            var offset: off_t = 0
            while true {
                let n = pread(fd, buffer, size, offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                offset += off_t(n)
                total += Int64(n)
            }
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL)
        }
        return total
    }

    /// `fdatasync`s every file, then asks the kernel to drop its cached pages.
    static func evict(_ files: [String]) {
        for file in files {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            _ = fdatasync(fd)
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            close(fd)
        }
    }
}
