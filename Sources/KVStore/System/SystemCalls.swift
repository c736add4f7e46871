#if canImport(Glibc)
import Glibc
#endif
import CKVSupport
import Synchronization

/// The names of the system calls the store makes. Fault-injection hooks see these.
enum SystemCall: String, Sendable, CaseIterable {
    case open, pread, pwrite, fdatasync, fsync, fallocate, ftruncate
    case mmap, msync, mlock, flock, rename, unlink, mkdir, fstat, readdir, link, rmdir, symlink, readlink, statfs
}

/// Every system call the store makes goes through here, so that there is one place that retries
/// `EINTR`, turns return codes into `Errno`, and lets tests inject faults or observe syncs.
///
/// Production cost of the hooks: one relaxed atomic load per call.
enum Sys {
    /// Runs a system call again for as long as a signal interrupts it (EINTR): the one place that
    /// retries. Returns its non-negative result; a result of -1 throws `errno`.
    @inline(__always)
    private static func retryingInterrupts(_ call: () -> Int) throws(Errno) -> Int {
        while true {
            let result = call()
            if result >= 0 { return result }
            if errno != EINTR { throw Errno.current }
        }
    }

    // MARK: - Files

    /// Opens a file, or with `O_DIRECTORY` a directory. Anything else than a regular file (a FIFO, a
    /// device, a socket named like a store file) is refused: opening a FIFO for reading blocks
    /// until a writer comes, and reading one never ends. `O_NONBLOCK` keeps that open from
    /// blocking; on a regular file Linux ignores it.
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(Errno) -> Int32 {
        try SystemHooks.check(.open, path: path)
        let wantsDirectory = flags & O_DIRECTORY != 0
        let fd = Int32(try retryingInterrupts { Int(Glibc.open(path, flags | O_CLOEXEC | (wantsDirectory ? 0 : O_NONBLOCK), mode)) })
        if !wantsDirectory {
            let kind = kv_fd_kind(fd)
            if kind != 2 {
                let error = kind == 1 ? Errno(EISDIR) : kind < 0 ? Errno.current : Errno.notRegularFile
                _ = Glibc.close(fd)
                throw error
            }
        }
        SystemHooks.opened(fd, path: path)
        return fd
    }

    /// Closes a descriptor. Errors from `close` are ignored on purpose: the descriptor is gone
    /// either way (Linux never retries), and durability is decided by the explicit syncs before it.
    static func close(_ fd: Int32) {
        SystemHooks.closed(fd)
        _ = Glibc.close(fd)
    }

    /// Reads up to `count` bytes at `offset`, retrying short reads until EOF or `count`.
    static func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) throws(Errno) -> Int {
        try SystemHooks.check(.pread, fd: fd)
        var done = 0
        while done < count {
            let n = try retryingInterrupts { Glibc.pread(fd, buffer + done, count - done, off_t(offset) + off_t(done)) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `count` bytes at `offset`.
    static func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) throws(Errno) {
        try SystemHooks.check(.pwrite, fd: fd)
        var done = 0
        while done < count {
            let n = try retryingInterrupts { Glibc.pwrite(fd, buffer + done, count - done, off_t(offset) + off_t(done)) }
            if n == 0 { throw Errno.ioError }
            done += n
        }
    }

    static func fdatasync(_ fd: Int32) throws(Errno) {
        try SystemHooks.check(.fdatasync, fd: fd)
        // Retried only when interrupted, never on failure: after a failed sync the kernel may have
        // dropped the dirty pages, so a second sync could "succeed" without the data (fsyncgate).
        _ = try retryingInterrupts { Int(Glibc.fdatasync(fd)) }
        SystemHooks.synced(fd)
    }

    /// Starts writing back a file's dirty pages without waiting (a hint: errors are ignored; the
    /// `fdatasync` that follows is what makes anything durable).
    static func startWriteback(_ fd: Int32, length: Int) {
        _ = kv_start_writeback(fd, 0, Int64(length))
    }

    static func fsync(_ fd: Int32) throws(Errno) {
        try SystemHooks.check(.fsync, fd: fd)
        _ = try retryingInterrupts { Int(Glibc.fsync(fd)) }
        SystemHooks.synced(fd)
    }

    /// Reserves disk blocks so that later writes (and page faults in a mapping) cannot hit ENOSPC.
    static func allocate(_ fd: Int32, offset: Int64, length: Int64) throws(Errno) {
        try SystemHooks.check(.fallocate, fd: fd)
        // posix_fallocate returns the error instead of setting errno.
        _ = try retryingInterrupts { () -> Int in
            let result = posix_fallocate(fd, off_t(offset), off_t(length))
            if result == 0 { return 0 }
            errno = result
            return -1
        }
    }

    /// Makes `[offset, offset+length)` read as zeros. Used to wipe the garbage after a torn tail so
    /// that no abandoned record can ever be mistaken for a live one.
    static func zeroRange(_ fd: Int32, offset: Int64, length: Int64) throws(Errno) {
        guard length > 0 else { return }
        try SystemHooks.check(.fallocate, fd: fd)
        if kv_zero_range(fd, offset, length) == 0 { return }
        // Neither ZERO_RANGE nor PUNCH_HOLE here: write zeros.
        let chunk = Int(min(length, 1 << 20))
        guard let zeros = calloc(chunk, 1) else { throw Errno(ENOMEM) }
        defer { free(zeros) }
        var at = offset
        while at < offset + length {
            let n = Int(min(Int64(chunk), offset + length - at))
            try pwrite(fd, zeros, n, at)
            at += Int64(n)
        }
    }

    static func truncate(_ fd: Int32, length: Int64) throws(Errno) {
        try SystemHooks.check(.ftruncate, fd: fd)
        _ = try retryingInterrupts { Int(Glibc.ftruncate(fd, off_t(length))) }
    }

    static func fileSize(_ fd: Int32) throws(Errno) -> Int64 {
        try SystemHooks.check(.fstat, fd: fd)
        var st = stat()
        if Glibc.fstat(fd, &st) != 0 { throw Errno.current }
        return Int64(st.st_size)
    }

    /// Whether fewer bytes are allocated to the file than its size: it has holes, and a mapped hole
    /// needs a block when it is touched, which on a full disk is SIGBUS. Counted from `st_blocks`
    /// rather than with `SEEK_HOLE`, which also reports preallocated, never-written ranges (ext4's
    /// unwritten extents, tmpfs's fallocated pages) as holes although they hold their blocks.
    static func hasHole(_ fd: Int32) throws(Errno) -> Bool {
        try allocatedBytes(fd) < fileSize(fd)
    }

    /// The file's device and inode: what identifies it whatever path it was opened by.
    static func identity(_ fd: Int32) throws(Errno) -> FileIdentity {
        try SystemHooks.check(.fstat, fd: fd)
        var device: UInt64 = 0, inode: UInt64 = 0
        if kv_fd_identity(fd, &device, &inode) != 0 { throw Errno.current }
        return FileIdentity(device: device, inode: inode)
    }

    struct FileIdentity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    /// The pid `/proc/locks` gives for an `flock` on the file with `identity`; `nil` when it lists
    /// none (or is not there). Informative: a descriptor inherited by a child is still listed
    /// under the pid that took the lock.
    static func flockHolder(of identity: FileIdentity) -> Int32? {
        guard let text = try? readWholeFile("/proc/locks") else { return nil }
        let major = identity.device >> 8 & 0xfff | identity.device >> 32 & ~0xfff
        let minor = identity.device & 0xff | identity.device >> 12 & ~0xff
        for line in text.split(separator: 10) {
            let fields = line.split(separator: 32)
            guard fields.count >= 6, fields[1].elementsEqual("FLOCK".utf8) else { continue }
            let file = fields[5].split(separator: UInt8(ascii: ":"))
            guard file.count == 3, let ma = UInt64(String(decoding: file[0], as: UTF8.self), radix: 16),
                  let mi = UInt64(String(decoding: file[1], as: UTF8.self), radix: 16),
                  let ino = UInt64(String(decoding: file[2], as: UTF8.self)),
                  ma == major, mi == minor, ino == identity.inode else { continue }
            return Int32(String(decoding: fields[4], as: UTF8.self))
        }
        return nil
    }

    /// Blocks allocated on disk, in bytes (what `du` reports).
    /// How many names (hard links) the open file has.
    static func linkCount(_ fd: Int32) throws(Errno) -> Int {
        let n = kv_fd_link_count(fd)
        if n < 0 { throw Errno.current }
        return Int(n)
    }

    /// Whether `path` is a symbolic link itself (it is not followed).
    static func isSymbolicLink(_ path: String) -> Bool { kv_path_is_symlink(path) == 1 }

    static func allocatedBytes(_ fd: Int32) throws(Errno) -> Int64 {
        try SystemHooks.check(.fstat, fd: fd)
        var st = stat()
        if Glibc.fstat(fd, &st) != 0 { throw Errno.current }
        return Int64(st.st_blocks) * 512
    }

    // MARK: - Mappings

    static func map(_ fd: Int32, length: Int, writable: Bool) throws(Errno) -> UnsafeMutableRawPointer {
        try SystemHooks.check(.mmap, fd: fd)
        let protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ
        guard let pointer = Glibc.mmap(nil, length, protection, MAP_SHARED, fd, 0), pointer != MAP_FAILED else {
            throw Errno.current
        }
        return pointer
    }

    /// Faults a mapped range in for writing ahead of use (`MADV_POPULATE_WRITE`, Linux 5.14+).
    /// One call per megabyte instead of a read fault and a write fault per page on first touch.
    /// Best effort: older kernels answer EINVAL and the pages fault in one by one as before.
    static func populateForWriting(_ pointer: UnsafeMutableRawPointer, length: Int) {
        let MADV_POPULATE_WRITE: Int32 = 23
        _ = Glibc.madvise(pointer, length, MADV_POPULATE_WRITE)
    }

    /// Private anonymous memory of `length` bytes, zero-filled as it is first touched, for a
    /// working buffer too large for `malloc` to be the right tool. Asked for transparent huge pages
    /// (`MADV_HUGEPAGE`, best effort): a buffer probed at random takes a TLB miss per 4 KiB page.
    static func mapAnonymous(length: Int) throws(Errno) -> UnsafeMutableRawPointer {
        guard let pointer = Glibc.mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              pointer != MAP_FAILED else {
            throw Errno.current
        }
        _ = Glibc.madvise(pointer, length, MADV_HUGEPAGE)
        return pointer
    }

    static func unmap(_ pointer: UnsafeMutableRawPointer, length: Int) {
        _ = Glibc.munmap(pointer, length)
    }

    /// Maps a file read-only (a sealed segment). Its pages are shared with the page cache and with
    /// every other process that maps or reads the file.
    static func mapReadOnly(_ fd: Int32, length: Int) throws(Errno) -> UnsafeRawPointer {
        try SystemHooks.check(.mmap, fd: fd)
        guard let pointer = Glibc.mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), pointer != MAP_FAILED else {
            throw Errno.current
        }
        return UnsafeRawPointer(pointer)
    }

    /// What a mapping will be used for (`madvise`).
    enum Advice {
        /// No read-ahead around a fault: only the page asked for is read from disk.
        case random
        /// Start reading the range into the page cache now, without waiting (`MADV_WILLNEED`).
        case willNeed
        /// Fill in the page tables for the whole range now, reading what is not cached
        /// (`MADV_POPULATE_READ`, Linux 5.14+), so that later reads take no page fault.
        case populateRead

        var raw: Int32 {
            switch self {
            case .random: MADV_RANDOM
            case .willNeed: MADV_WILLNEED
            case .populateRead: 22
            }
        }
    }

    /// Advice is advice: a kernel that does not know it answers EINVAL, and nothing changes.
    @discardableResult
    static func advise(_ pointer: UnsafeRawPointer, length: Int, _ advice: Advice) -> Bool {
        Glibc.madvise(UnsafeMutableRawPointer(mutating: pointer), length, advice.raw) == 0
    }

    /// Keeps a mapped range in memory (`mlock`).
    static func lockInMemory(_ pointer: UnsafeRawPointer, length: Int, path: String) throws(Errno) {
        try SystemHooks.check(.mlock, path: path)
        if Glibc.mlock(pointer, length) != 0 { throw Errno.current }
    }

    static func unlockFromMemory(_ pointer: UnsafeRawPointer, length: Int) {
        _ = Glibc.munlock(pointer, length)
    }

    /// `RLIMIT_MEMLOCK`'s soft limit in bytes; `nil` when unlimited.
    static func memoryLockLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 else { return 0 }
        return limit.rlim_cur == rlim_t.max ? nil : Int(clamping: limit.rlim_cur)
    }

    /// Bytes of physical memory.
    static func physicalMemory() -> Int {
        Int(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * Int(max(4096, sysconf(Int32(_SC_PAGESIZE))))
    }

    /// Writes a mapped range back to the file and waits for the disk (`msync(MS_SYNC)`).
    static func syncMapping(_ pointer: UnsafeMutableRawPointer, length: Int, fd: Int32) throws(Errno) {
        try SystemHooks.check(.msync, fd: fd)
        if Glibc.msync(pointer, length, MS_SYNC) != 0 { throw Errno.current }
        SystemHooks.synced(fd)
    }

    // MARK: - Locks and directories

    /// Takes an exclusive `flock` without waiting. `flock` (not `fcntl`) because POSIX record locks
    /// vanish when any descriptor of the file is closed anywhere in the process.
    static func lockExclusive(_ fd: Int32) throws(Errno) {
        try SystemHooks.check(.flock, fd: fd)
        _ = try retryingInterrupts { Int(kv_flock(fd, LOCK_EX | LOCK_NB)) }
    }

    /// Whether another open file description holds an exclusive `flock` on `fd`'s file: a live
    /// reader's test for a writer. It takes a shared lock without waiting and drops it at once, so
    /// it holds nothing a writer would wait for longer than a few microseconds (and a reader killed
    /// in between loses it with its descriptors).
    static func isLockedExclusively(_ fd: Int32) throws(Errno) -> Bool {
        try SystemHooks.check(.flock, fd: fd)
        do { _ = try retryingInterrupts { Int(kv_flock(fd, LOCK_SH | LOCK_NB)) } } catch where error == .wouldBlock { return true }
        _ = kv_flock(fd, LOCK_UN)
        return false
    }

    /// The device and inode of the file at `path`, or `nil` when there is none.
    static func identity(ofPath path: String) -> FileIdentity? {
        var device: UInt64 = 0, inode: UInt64 = 0
        guard kv_path_identity(path, &device, &inode) == 0 else { return nil }
        return FileIdentity(device: device, inode: inode)
    }

    static func rename(_ from: String, _ to: String) throws(Errno) {
        try SystemHooks.check(.rename, path: to)
        if Glibc.rename(from, to) != 0 { throw Errno.current }
    }

    /// Swaps two paths atomically (`renameat2(RENAME_EXCHANGE)`): how a backup replaces an older
    /// one, a whole directory at a time, so that a crash leaves either.
    static func exchange(_ a: String, _ b: String) throws(Errno) {
        try SystemHooks.check(.rename, path: b)
        if kv_rename_exchange(a, b) != 0 { throw Errno.current }
    }

    /// A new name for an existing file (`link`); `EXDEV` across file systems.
    static func link(_ existing: String, _ new: String) throws(Errno) {
        try SystemHooks.check(.link, path: new)
        if Glibc.link(existing, new) != 0 { throw Errno.current }
    }

    /// A symbolic link at `path` that points at `target`.
    static func symbolicLink(_ target: String, at path: String) throws(Errno) {
        try SystemHooks.check(.symlink, path: path)
        if Glibc.symlink(target, path) != 0 { throw Errno.current }
    }

    /// What the symbolic link at `path` points at, or `nil` when `path` is not one (or is missing).
    static func linkTarget(_ path: String) -> String? {
        guard (try? SystemHooks.check(.readlink, path: path)) != nil else { return nil }
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = Glibc.readlink(path, &buffer, 4096)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The user that owns an open file, or the file at `path`; `nil` when it cannot be asked.
    static func owner(ofDescriptor fd: Int32) -> UInt32? {
        var uid: UInt32 = 0
        return kv_fd_owner(fd, &uid) == 0 ? uid : nil
    }

    static func owner(ofPath path: String) -> UInt32? {
        var uid: UInt32 = 0
        return kv_path_owner(path, &uid) == 0 ? uid : nil
    }

    /// Whether `path` is on a memory file system (tmpfs), and how many bytes it has free: `nil`
    /// when it cannot be asked (missing, EACCES).
    static func memoryFileSystemSpace(_ path: String) -> (isMemory: Bool, available: Int64)? {
        guard (try? SystemHooks.check(.statfs, path: path)) != nil else { return nil }
        var memory: Int32 = 0
        var available: Int64 = 0
        guard kv_file_system_space(path, &memory, &available) == 0 else { return nil }
        return (memory == 1, available)
    }

    static func removeDirectory(_ path: String) throws(Errno) {
        try SystemHooks.check(.rmdir, path: path)
        if Glibc.rmdir(path) != 0 { throw Errno.current }
    }

    static func unlink(_ path: String) throws(Errno) {
        try SystemHooks.check(.unlink, path: path)
        if Glibc.unlink(path) != 0 { throw Errno.current }
    }

    static func makeDirectory(_ path: String) throws(Errno) {
        try SystemHooks.check(.mkdir, path: path)
        if Glibc.mkdir(path, 0o755) != 0 { throw Errno.current }
    }

    /// Syncs a directory so that file creations, renames and deletions in it survive power loss.
    static func syncDirectory(_ path: String) throws(Errno) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd)
    }

    enum FileKind { case missing, directory, file, other }

    static func kind(of path: String) -> FileKind {
        switch kv_path_kind(path) {
        case 0: return .missing
        case 1: return .directory
        case 2: return .file
        default: return .other
        }
    }

    /// The names in a directory, without `.` and `..`.
    static func listDirectory(_ path: String) throws(Errno) -> [String] {
        try SystemHooks.check(.readdir, path: path)
        guard let dir = opendir(path) else { throw Errno.current }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
