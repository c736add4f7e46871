#if canImport(Glibc)
import Glibc
#endif

// See FORMAT.md §5 "Hint files".

/// The keys and locations of one sealed segment, so that rebuilding the index reads a few bytes
/// per key instead of every value (Bitcask's hint files).
///
/// ```
/// header (32 bytes)
///   0  8  magic        "KVHINTS\0"
///   8  2  formatMajor
///  10  2  formatMinor
///  12  4  segmentID
///  16  8  storeID
///  24  4  entryCount
///  28  4  dataEnd      where the segment's records end
/// entry (24 bytes + key, padded to a multiple of 8)
///   0  8  sequence
///   8  4  offset       of the record in the segment
///  12  4  length       of the record (header + key + stored value)
///  16  4  keyLength
///  20  1  kind         1 put, 2 delete
///  21  3  reserved     zero
///  24  …  key
/// trailer (8 bytes)
///   0  4  checksum     CRC-32C of every byte before the trailer
///   4  4  magic        "HEND"
/// ```
/// A hint file that fails any check is ignored and its segment is scanned instead.
struct HintFile {
    static let magic: [UInt8] = Array("KVHINTS\0".utf8)
    static let trailerMagic: [UInt8] = Array("HEND".utf8)
    static let headerSize = 32
    static let entryHeaderSize = 24

    /// One entry, pointing into the hint file's bytes.
    struct Entry {
        var sequence: UInt64
        var offset: Int
        var length: Int
        var kind: RecordKind
        /// Where the key starts in ``HintFile/bytes``.
        var keyStart: Int
        var keyLength: Int
    }

    let segmentID: UInt32
    let dataEnd: Int
    /// The whole file; entries point into it.
    let bytes: [UInt8]
    let entries: [Entry]

    /// Builds the hint file of a sealed segment by reading it: every record must be whole.
    static func build(segment: SegmentFile, storeID: UInt64) throws(KVError) -> HintFile {
        let (hint, stop) = try scan(segment, storeID: storeID, role: .sealed(hinted: false), purpose: .inspect(resynchronize: false))
        if case .damage(let offset, let reason) = stop {
            throw .corruption("sealed segment is damaged: \(reason)", path: segment.path, offset: Int64(offset))
        }
        return hint
    }

    /// Reads a segment's records into hint form, and says why they stopped. Sealing writes the
    /// result as the segment's hint file; a rebuild uses it in memory for a segment without one.
    static func scan(_ segment: SegmentFile, storeID: UInt64, role: LogReader.Role,
                     purpose: LogReader.Purpose) throws(KVError) -> (hint: HintFile, stop: LogReader.Stop) {
        var out = [UInt8](repeating: 0, count: headerSize)
        out.reserveCapacity(1 << 20)
        var entries: [Entry] = []
        var reader = try LogReader(file: segment, role: role, purpose: purpose)
        var stop: LogReader.Stop
        scan: while true {
            switch try reader.next() {
            case .record(let r):
                let at = out.count
                let keyLength = r.key.count
                out.append(contentsOf: repeatElement(0, count: entryHeaderSize + alignedTo8(keyLength)))
                out.withUnsafeMutableBytes { e in
                    let p = e.baseAddress! + at
                    p.storeLE(r.header.sequence, at: 0)
                    p.storeLE(UInt32(r.offset), at: 8)
                    p.storeLE(UInt32(r.header.length), at: 12)
                    p.storeLE(UInt32(keyLength), at: 16)
                    p.storeLE(r.header.kind.rawValue, at: 20)
                    (p + entryHeaderSize).copyMemory(from: r.key.baseAddress!, byteCount: keyLength)
                }
                entries.append(Entry(sequence: r.header.sequence, offset: r.offset, length: r.header.length,
                                     kind: r.header.kind, keyStart: at + entryHeaderSize, keyLength: keyLength))
            case .skipped:
                continue  // only with resynchronization, which no hint is built with
            case .stop(let why):
                stop = why
                break scan
            }
        }
        let dataEnd = stop.offset
        out.withUnsafeMutableBytes { h in
            let p = h.baseAddress!
            h.copyBytes(from: magic)
            p.storeLE(FormatVersion.major, at: 8)
            p.storeLE(FormatVersion.minor, at: 10)
            p.storeLE(segment.id, at: 12)
            p.storeLE(storeID, at: 16)
            p.storeLE(UInt32(entries.count), at: 24)
            p.storeLE(UInt32(dataEnd), at: 28)
        }
        let crc = CRC32C.checksum(out)
        out.append(contentsOf: withUnsafeBytes(of: crc.littleEndian) { Array($0) })
        out.append(contentsOf: trailerMagic)
        return (HintFile(segmentID: segment.id, dataEnd: dataEnd, bytes: out, entries: entries), stop)
    }

    /// Validates and indexes hint bytes. Throws for anything that does not check out.
    static func decode(_ bytes: [UInt8], path: String, segmentID: UInt32, storeID: UInt64) throws(KVError) -> HintFile {
        try bytes.withBytes { raw throws(KVError) -> HintFile in
            let fail = { (reason: String, offset: Int) -> KVError in .corruption("hint file: " + reason, path: path, offset: Int64(offset)) }
            guard raw.count >= headerSize + 8, let p = raw.baseAddress, raw.prefix(8).elementsEqual(magic) else { throw fail("bad magic or too short", 0) }
            let bodyEnd = raw.count - 8
            guard raw[bodyEnd + 4 ..< raw.count].elementsEqual(trailerMagic) else { throw fail("missing trailer", bodyEnd) }
            guard CRC32C.checksum(p, count: bodyEnd) == p.loadLE(UInt32.self, at: bodyEnd) else { throw fail("checksum mismatch", bodyEnd) }
            let major = p.loadLE(UInt16.self, at: 8)
            guard major <= FormatVersion.major else {
                throw KVError(.incompatibleFormat, "hint file has format version \(major)", path: path)
            }
            guard p.loadLE(UInt32.self, at: 12) == segmentID, p.loadLE(UInt64.self, at: 16) == storeID else {
                throw fail("hint file belongs to another segment or store", 12)
            }
            let count = Int(p.loadLE(UInt32.self, at: 24))
            let dataEnd = Int(p.loadLE(UInt32.self, at: 28))
            var entries: [Entry] = []
            entries.reserveCapacity(min(count, bodyEnd / entryHeaderSize))
            var at = headerSize
            for _ in 0..<count {
                guard at + entryHeaderSize <= bodyEnd else { throw fail("entry past the end", at) }
                let keyLength = Int(p.loadLE(UInt32.self, at: at + 16))
                guard let kind = RecordKind(rawValue: p.loadLE(UInt8.self, at: at + 20)), kind != .batch,
                      keyLength >= 1, keyLength <= Limits.maximumKeyLength,
                      at + entryHeaderSize + keyLength <= bodyEnd else { throw fail("bad entry", at) }
                let offset = Int(p.loadLE(UInt32.self, at: at + 8))
                let length = Int(p.loadLE(UInt32.self, at: at + 12))
                guard offset >= SegmentHeader.size, offset % 8 == 0, length >= RecordHeader.size + keyLength,
                      offset + length <= dataEnd else { throw fail("entry points outside the segment", at) }
                entries.append(Entry(sequence: p.loadLE(UInt64.self, at: at), offset: offset, length: length,
                                     kind: kind, keyStart: at + entryHeaderSize, keyLength: keyLength))
                at += entryHeaderSize + alignedTo8(keyLength)
            }
            guard at == bodyEnd else { throw fail("trailing bytes", at) }
            return HintFile(segmentID: segmentID, dataEnd: dataEnd, bytes: bytes, entries: entries)
        }
    }

    /// Reads and validates the hint file of `segmentID`; `nil` when it is missing or does not check out.
    static func load(directory: String, segmentID: UInt32, storeID: UInt64) -> HintFile? {
        let path = directory + "/" + FileNames.hint(segmentID)
        guard let bytes = try? readWholeFile(path) else { return nil }
        return try? decode(bytes, path: path, segmentID: segmentID, storeID: storeID)
    }

    /// Writes the file durably: temporary name, sync, rename, sync the directory.
    func write(directory: String) throws(KVError) {
        let path = directory + "/" + FileNames.hint(segmentID)
        try writeFileAtomically(path: path, bytes: bytes, directory: directory)
    }
}

/// Reads a small file whole, until end of file: files under /proc report a size of zero.
func readWholeFile(_ path: String) throws(KVError) -> [UInt8] {
    let fd: Int32
    do { fd = try Sys.open(path, O_RDONLY) } catch { throw error.kvError("open", path: path) }
    defer { Sys.close(fd) }
    var size = 4096
    if let known = try? Int(Sys.fileSize(fd)), known > 0 { size = known + 1 }
    var bytes = [UInt8](repeating: 0, count: size)
    var count = 0
    while true {
        let n = try bytes.withMutableBytes { (raw) throws(KVError) -> Int in
            do throws(Errno) { return try Sys.pread(fd, raw.baseAddress! + count, raw.count - count, Int64(count)) } catch {
                throw error.kvError("pread", path: path)
            }
        }
        count += n
        if count < bytes.count { break }
        bytes += [UInt8](repeating: 0, count: bytes.count)
    }
    return Array(bytes.prefix(count))
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file, complete.
func writeFileAtomically(path: String, bytes: [UInt8], directory: String) throws(KVError) {
    let temporary = path + FileNames.temporarySuffix
    let fd: Int32
    do { fd = try Sys.open(temporary, O_WRONLY | O_CREAT | O_TRUNC) } catch { throw error.kvError("open", path: temporary) }
    do {
        try bytes.withBytes { raw throws(Errno) in if raw.count > 0 { try Sys.pwrite(fd, raw.baseAddress!, raw.count, 0) } }
        try Sys.fsync(fd)
    } catch {
        Sys.close(fd)
        _ = try? Sys.unlink(temporary)
        throw error.kvError("write", path: temporary)
    }
    Sys.close(fd)
    do {
        try Sys.rename(temporary, path)
        try Sys.syncDirectory(directory)
    } catch {
        throw error.kvError("rename", path: path)
    }
}
