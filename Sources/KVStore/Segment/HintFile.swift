#if canImport(Glibc)
import Glibc
#endif

// See FORMAT.md §5 "Hint files"; the bytes are described in ``HintLayout``.

/// The keys and locations of one sealed segment, so that rebuilding the index reads a few bytes
/// per key instead of every value (Bitcask's hint files). Written in the compact layout (18 bytes
/// + key per record); hint files of the padded 1.0 layout are still read. A hint file that fails
/// any check is ignored and its segment is scanned instead.
struct HintFile {
    typealias Entry = HintLayout.Entry

    let segmentID: UInt32
    let dataEnd: Int
    /// The whole file; entries point into it.
    let bytes: [UInt8]
    let entries: [Entry]

    /// Writes the hint file of a sealed segment, built by reading it (every record must be whole):
    /// the bytes as the scan made them, not decoded again, since sealing only writes them.
    static func build(segment: SegmentFile, storeID: UInt64, directory: String) throws(KVError) {
        let (bytes, _, stop) = try scanBytes(segment, storeID: storeID, role: .sealed(hinted: false),
                                             purpose: .inspect(resynchronize: false)) { _ in }
        if case .damage(let offset, let reason) = stop {
            throw .corruption("sealed segment is damaged: \(reason)", path: segment.path, offset: Int64(offset))
        }
        try writeFileAtomically(path: directory + "/" + FileNames.hint(segment.id), bytes: bytes, directory: directory)
    }

    /// The bytes of a compact hint file for a segment's records (``HintLayout``), the number of
    /// records, and why they stopped; `each` sees every record's key on the way.
    static func scanBytes(_ segment: SegmentFile, storeID: UInt64, role: LogReader.Role, purpose: LogReader.Purpose,
                          each: (UnsafeRawBufferPointer) -> Void) throws(KVError) -> (bytes: [UInt8], records: Int, stop: LogReader.Stop) {
        var out = [UInt8](repeating: 0, count: HintLayout.headerSize)
        out.reserveCapacity(1 << 20)
        var records = 0
        var reader = try LogReader(file: segment, role: role, purpose: purpose)
        var stop: LogReader.Stop
        scan: while true {
            switch try reader.next() {
            case .record(let r):
                HintLayout.appendCompact(to: &out, sequence: r.header.sequence, offset: r.offset, length: r.header.length,
                                         kind: r.header.kind, key: r.key)
                records += 1
                each(r.key)
            case .skipped:
                continue  // only with resynchronization, which no hint is built with
            case .stop(let why):
                stop = why
                break scan
            }
        }
        HintLayout.finish(&out, segmentID: segment.id, storeID: storeID, entryCount: records, dataEnd: stop.offset)
        return (out, records, stop)
    }

    /// Validates and indexes hint bytes of either layout. Throws for anything that does not check out.
    static func decode(_ bytes: [UInt8], path: String, segmentID: UInt32, storeID: UInt64) throws(KVError) -> HintFile {
        try bytes.withBytes { raw throws(KVError) -> HintFile in
            let header = try HintLayout.header(of: raw, path: path, segmentID: segmentID, storeID: storeID)
            var entries: [Entry] = []
            entries.reserveCapacity(min(header.entryCount, raw.count / HintLayout.compactEntrySize))
            try HintLayout.forEachEntry(in: raw, header: header, path: path) { entries.append($0) }
            return HintFile(segmentID: segmentID, dataEnd: header.dataEnd, bytes: bytes, entries: entries)
        }
    }

    /// Reads and validates the hint file of `segmentID`; `nil` when it is missing or does not check out.
    static func load(directory: String, segmentID: UInt32, storeID: UInt64) -> HintFile? {
        let path = directory + "/" + FileNames.hint(segmentID)
        guard let bytes = try? readWholeFile(path) else { return nil }
        return try? decode(bytes, path: path, segmentID: segmentID, storeID: storeID)
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
