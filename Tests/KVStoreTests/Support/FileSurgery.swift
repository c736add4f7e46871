@testable import KVStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Byte-level editing of the files of a store, for white-box recovery and corruption tests.
/// Plain POSIX calls, never the store's `Sys` layer, so fault-injection hooks do not see them.
enum FileSurgery {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "open \(path): errno \(errno)") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure(description: "fstat \(path): errno \(errno)") }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    /// Replaces the file's contents (creating it if needed) with exactly `bytes`.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "open \(path): errno \(errno)") }
        defer { close(fd) }
        try writeAll(fd, bytes, at: 0, path: path)
    }

    /// Writes `bytes` at `offset`, leaving the rest of the file as it is.
    static func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "open \(path): errno \(errno)") }
        defer { close(fd) }
        try writeAll(fd, bytes, at: offset, path: path)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure(description: "pwrite \(path): errno \(errno)") }
            done += n
        }
    }

    static func truncate(_ path: String, to length: Int) throws {
        guard Glibc.truncate(path, off_t(length)) == 0 else { throw Failure(description: "truncate \(path): errno \(errno)") }
    }

    /// XORs one byte of a file with `mask`.
    static func xor(_ path: String, at offset: Int, with mask: UInt8 = 0xFF) throws {
        var bytes = try read(path)
        guard offset < bytes.count else { throw Failure(description: "\(path) has no byte \(offset)") }
        bytes[offset] ^= mask
        try overwrite(path, at: offset, with: [bytes[offset]])
    }

    static func size(_ path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure(description: "stat \(path): errno \(errno)") }
        return Int(st.st_size)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 else { throw Failure(description: "unlink \(path): errno \(errno)") }
    }

    /// The names in a directory, sorted.
    static func names(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    /// Segment file names (`00000001.seg`, ...), oldest first.
    static func segmentNames(in directory: String) throws -> [String] {
        try names(in: directory).filter { $0.hasSuffix(FileNames.segmentSuffix) }
    }

    static func hintNames(in directory: String) throws -> [String] {
        try names(in: directory).filter { $0.hasSuffix(FileNames.hintSuffix) }
    }

    /// The path of the newest segment.
    static func lastSegmentPath(in directory: String) throws -> String {
        guard let last = try segmentNames(in: directory).last else { throw Failure(description: "no segment in \(directory)") }
        return directory + "/" + last
    }

    /// Every regular file of a directory, by name (the lock file included: it is empty).
    static func snapshot(_ directory: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try names(in: directory) { files[name] = try read(directory + "/" + name) }
        return files
    }

    /// Makes `directory` hold exactly `files` (creating the directory if needed).
    static func restore(_ files: [String: [UInt8]], into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in try names(in: directory) where files[name] == nil { try remove(directory + "/" + name) }
        for (name, bytes) in files { try write(bytes, to: directory + "/" + name) }
    }

    /// Copies every file of `source` into `destination` (created if needed).
    static func copyDirectory(_ source: String, to destination: String) throws {
        try restore(snapshot(source), into: destination)
    }

    /// The number of open file descriptors of this process.
    static func openDescriptorCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// Descriptors of this process open on files under `directory` (also deleted ones), so that
    /// tests running in parallel do not count.
    static func openDescriptorCount(under directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.filter { name in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name) else { return false }
            return target.hasPrefix(directory + "/")
        }.count
    }
}

/// A record found by parsing a segment file directly (batch records included, not interpreted).
struct ParsedRecord: Equatable {
    var offset: Int
    var header: RecordHeader
    var key: [UInt8]
    var storedValue: [UInt8]

    var length: Int { header.length }
    var end: Int { offset + header.length }
    var alignedEnd: Int { offset + header.alignedLength }
}

extension FileSurgery {
    /// Parses the records of a segment file from its first record to the first byte that is not a
    /// valid record (the end of the log, a torn tail, or damage).
    static func records(inSegment path: String) throws -> [ParsedRecord] {
        let bytes = try read(path)
        var out: [ParsedRecord] = []
        var at = SegmentHeader.size
        bytes.withUnsafeBytes { raw in
            while at < raw.count {
                guard case .record(let header) = RecordHeader.parse(raw.baseAddress! + at, available: raw.count - at) else { break }
                let key = Array(raw[(at + RecordHeader.size) ..< (at + RecordHeader.size + header.keyLength)])
                let valueStart = at + RecordHeader.size + header.keyLength
                out.append(ParsedRecord(offset: at, header: header, key: key,
                                        storedValue: Array(raw[valueStart ..< (valueStart + header.storedValueLength)])))
                at += header.alignedLength
            }
        }
        return out
    }
}

/// Runs `body` with a fresh directory on a memory file system (`/dev/shm`) when there is one, else
/// under the temporary folder. Tests that reopen stores thousands of times use it: every open and
/// close syncs files, which costs milliseconds on a disk and nothing in memory. The power-loss and
/// torn-tail simulations work on file contents, so they do not need a real disk.
func withScratchDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let base: String
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue,
       access("/dev/shm", W_OK) == 0 {
        base = "/dev/shm/"
    } else {
        base = NSTemporaryDirectory()
    }
    let path = base + "kvstore-whitebox-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// Helpers to build configurations for white-box tests.
enum TestStores {
    /// A boot id no real boot has: an index written under it is distrusted by any other.
    static func randomBootID<G: RandomNumberGenerator>(using rng: inout G) -> [UInt8] {
        (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func randomBootID() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return randomBootID(using: &rng)
    }

    static func configuration(compression: Store.Compression = .none, durability: Store.Durability = .process,
                              segmentSize: Int = 64 << 10, bootID: [UInt8]? = nil, hasher: KeyHasher? = nil) -> Store.Configuration {
        var configuration = Store.Configuration()
        configuration.compression = compression
        configuration.durability = durability
        configuration.segmentSize = segmentSize
        configuration.bootID = bootID
        configuration.hasher = hasher
        return configuration
    }
}

/// Whether `error` is a `KVError` with the given code.
func isKVError(_ error: any Error, _ code: KVError.Code) -> Bool {
    (error as? KVError)?.code == code
}
