#if canImport(Glibc)
import Glibc
#endif

// See FORMAT.md §14 "Backups".

/// The `BACKUP` file of a directory made by ``Store/backup(to:progress:)``: which store it copies,
/// the moment it holds, and every file it was made with, identified well enough that the next
/// backup into it can tell which it may keep (FORMAT.md §14). The store itself never reads it.
struct BackupManifest: Equatable, Sendable {
    static let name = "BACKUP"
    static let magic: [UInt8] = Array("KVBACKUP".utf8)
    static let version: UInt16 = 1
    static let headerSize = 48
    static let entrySize = 24

    enum Kind: UInt8, Sendable { case segment = 1, hint = 2, dictionary = 3 }

    /// One file of the backup.
    struct Entry: Equatable, Sendable {
        var kind: Kind
        var id: UInt32
        var size: Int64
        var fingerprint: UInt64

        var name: String {
            switch kind {
            case .segment: FileNames.segment(id)
            case .hint: FileNames.hint(id)
            case .dictionary: FileNames.dictionary(UInt16(truncatingIfNeeded: id))
            }
        }
    }

    var storeID: UInt64
    /// Where the log of the backup ends: everything before it, nothing after.
    var position: LogPosition
    /// The sequence number of the last record before ``position``.
    var sequence: UInt64
    /// Seconds since 1970, informative.
    var createdAt: UInt64
    var entries: [Entry]

    func entry(_ kind: Kind, _ id: UInt32) -> Entry? { entries.first { $0.kind == kind && $0.id == id } }

    func encode() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.headerSize + entries.count * Self.entrySize + 4)
        bytes.withMutableBytes { raw in
            let p = raw.baseAddress!
            Self.magic.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            p.storeLE(Self.version, at: 8)
            p.storeLE(UInt32(entries.count), at: 12)
            p.storeLE(storeID, at: 16)
            p.storeLE(position.word, at: 24)
            p.storeLE(sequence, at: 32)
            p.storeLE(createdAt, at: 40)
            for (i, e) in entries.enumerated() {
                let q = p + Self.headerSize + i * Self.entrySize
                q.storeLE(e.kind.rawValue, at: 0)
                q.storeLE(e.id, at: 4)
                q.storeLE(UInt64(e.size), at: 8)
                q.storeLE(e.fingerprint, at: 16)
            }
            let end = raw.count - 4
            p.storeLE(CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: end)), at: end)
        }
        return bytes
    }

    /// Decodes a `BACKUP` file; every length is checked before it is used.
    static func decode(_ bytes: [UInt8], path: String) throws(KVError) -> BackupManifest {
        try bytes.withBytes { (raw) throws(KVError) -> BackupManifest in
            guard raw.count >= headerSize + 4, raw.prefix(8).elementsEqual(magic) else {
                throw KVError(.notABackup, "not a KVStore backup manifest", path: path)
            }
            let p = raw.baseAddress!
            let end = raw.count - 4
            guard p.loadLE(UInt32.self, at: end) == CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: end)) else {
                throw KVError.corruption("backup manifest checksum mismatch", path: path, offset: Int64(end))
            }
            let version = p.loadLE(UInt16.self, at: 8)
            guard version <= Self.version else {
                throw KVError(.incompatibleFormat, "backup manifest version \(version) is newer than this build's \(Self.version)", path: path)
            }
            let count = Int(p.loadLE(UInt32.self, at: 12))
            guard count <= (raw.count - headerSize - 4) / entrySize, headerSize + count * entrySize + 4 == raw.count else {
                throw KVError.corruption("backup manifest length does not match its \(count) entries", path: path, offset: 12)
            }
            var entries: [Entry] = []
            for i in 0..<count {
                let q = p + headerSize + i * entrySize
                guard let kind = Kind(rawValue: q.loadLE(UInt8.self, at: 0)) else {
                    throw KVError.corruption("backup manifest entry \(i) has an unknown kind", path: path, offset: Int64(headerSize + i * entrySize))
                }
                let size = q.loadLE(UInt64.self, at: 8)
                guard size <= UInt64(Int64.max) else {
                    throw KVError.corruption("backup manifest entry \(i) has an impossible size", path: path, offset: Int64(headerSize + i * entrySize + 8))
                }
                entries.append(Entry(kind: kind, id: q.loadLE(UInt32.self, at: 4), size: Int64(size), fingerprint: q.loadLE(UInt64.self, at: 16)))
            }
            return BackupManifest(storeID: p.loadLE(UInt64.self, at: 16), position: LogPosition(word: p.loadLE(UInt64.self, at: 24)),
                                  sequence: p.loadLE(UInt64.self, at: 32), createdAt: p.loadLE(UInt64.self, at: 40), entries: entries)
        }
    }
}

/// What tells two files of the same name and size apart without reading them whole: CRC-32C of
/// their first and of their last 4 KiB (of the first `size` bytes). For a segment, the last 4 KiB
/// hold the last records' sequence numbers and checksums (which cover their keys and values), so
/// two histories that diverged (a store restored from a backup and written again) differ there.
enum FileFingerprint {
    static let span = 4096

    static func of(fd: Int32, size: Int64, path: String) throws(KVError) -> UInt64 {
        let head = try crc(fd: fd, offset: 0, count: Int(min(size, Int64(span))), path: path)
        let tailStart = max(0, size - Int64(span))
        let tail = try crc(fd: fd, offset: tailStart, count: Int(size - tailStart), path: path)
        return UInt64(head) << 32 | UInt64(tail)
    }

    static func of(path: String, size: Int64? = nil) throws(KVError) -> (size: Int64, fingerprint: UInt64) {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch { throw error.kvError("open", path: path) }
        defer { Sys.close(fd) }
        let length: Int64
        if let size { length = size } else {
            do { length = try Sys.fileSize(fd) } catch { throw error.kvError("fstat", path: path) }
        }
        return (length, try of(fd: fd, size: length, path: path))
    }

    private static func crc(fd: Int32, offset: Int64, count: Int, path: String) throws(KVError) -> UInt32 {
        guard count > 0 else { return 0 }
        return try ScratchBuffer.with(count) { (buffer) throws(KVError) -> UInt32 in
            let n: Int
            do throws(Errno) { n = try Sys.pread(fd, buffer, count, offset) } catch { throw error.kvError("pread", path: path, offset: offset) }
            guard n == count else { throw KVError(.io, "the file ended before byte \(offset + Int64(count))", path: path) }
            return CRC32C.checksum(buffer, count: count)
        }
    }
}
