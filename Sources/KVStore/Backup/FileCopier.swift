#if canImport(Glibc)
import Glibc
#endif

/// How a backup puts a file into its new directory: a hard link where it can (the same file
/// system; a sealed file never changes, so sharing its inode is safe), a copy where it cannot
/// (`EXDEV`), and a copy always for what the backup may later write itself (FORMAT.md §14).
/// Every file it makes is synced before the backup calls the directory complete.
struct FileCopier {
    private(set) var linked = 0
    private(set) var copied = 0
    private(set) var bytesCopied: Int64 = 0
    /// Once a link failed with `EXDEV`, every later one from the same directory would too.
    private var crossDevice: Set<String> = []

    /// Links `source` as `target` or, across file systems, copies its first `size` bytes.
    mutating func linkOrCopy(_ source: String, to target: String, size: Int64, from directory: String) throws(KVError) {
        if !crossDevice.contains(directory) {
            do {
                try Sys.link(source, target)
                try syncFile(target)
                linked += 1
                return
            } catch let error as Errno where error == Errno(EXDEV) || error == Errno(EPERM) || error == Errno(EMLINK) {
                // EPERM: a file system without hard links (some FUSE mounts); EMLINK: too many.
                crossDevice.insert(directory)
            } catch let error as Errno {
                throw error.kvError("link", path: target)
            } catch let error as KVError {
                throw error
            } catch {
                throw KVError(.io, "link failed: \(error)", path: target)
            }
        }
        try copy(source, to: target, length: size)
    }

    /// Copies the first `length` bytes of `source` into a new file `target`, synced.
    mutating func copy(_ source: String, to target: String, length: Int64) throws(KVError) {
        let input: Int32
        do { input = try Sys.open(source, O_RDONLY) } catch { throw error.kvError("open", path: source) }
        defer { Sys.close(input) }
        let output: Int32
        do { output = try Sys.open(target, O_WRONLY | O_CREAT | O_EXCL) } catch { throw error.kvError("open", path: target) }
        defer { Sys.close(output) }
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < length {
            let want = Int(min(Int64(chunk), length - offset))
            let n: Int
            do { n = try Sys.pread(input, buffer, want, offset) } catch { throw error.kvError("pread", path: source, offset: offset) }
            guard n == want else {
                throw KVError(.io, "the file ended at byte \(offset + Int64(n)), before the \(length) bytes the backup captured", path: source)
            }
            do { try Sys.pwrite(output, buffer, n, offset) } catch { throw error.kvError("pwrite", path: target, offset: offset) }
            offset += Int64(n)
            bytesCopied += Int64(n)
        }
        do { try Sys.fsync(output) } catch { throw error.kvError("fsync", path: target) }
        copied += 1
    }

    /// Writes `bytes` as a new file, synced.
    mutating func write(_ bytes: [UInt8], to target: String) throws(KVError) {
        let fd: Int32
        do { fd = try Sys.open(target, O_WRONLY | O_CREAT | O_EXCL) } catch { throw error.kvError("open", path: target) }
        defer { Sys.close(fd) }
        do {
            try bytes.withBytes { raw throws(Errno) in if raw.count > 0 { try Sys.pwrite(fd, raw.baseAddress!, raw.count, 0) } }
            try Sys.fsync(fd)
        } catch { throw error.kvError("write", path: target) }
        copied += 1
        bytesCopied += Int64(bytes.count)
    }

    /// A linked file shares its inode with the source, whose writer may not have synced it yet
    /// (a segment sealed a moment ago): the backup syncs it itself.
    private func syncFile(_ path: String) throws(KVError) {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch { throw error.kvError("open", path: path) }
        defer { Sys.close(fd) }
        do { try Sys.fdatasync(fd) } catch { throw error.kvError("fdatasync", path: path) }
    }
}
