#if canImport(Glibc)
import Glibc
#endif
import KVStore

/// One pass over every record of a store: per-segment counts and sizes, the live values'
/// compression, and the largest live values. Behind `stat` and `segments`.
struct StoreSurvey {
    /// What one segment holds.
    struct Segment {
        var segment: ToolingSegment
        var records = 0
        var puts = 0
        var deletes = 0
        var liveRecords = 0
        /// Bytes of records that hold current values, padding included.
        var liveBytes = 0
        var compressedPuts = 0
        /// Regions that are not valid records; the records after each were still counted.
        var damage: [ToolingDamage] = []

        /// Bytes of records (after the header).
        var dataBytes: Int { max(0, segment.dataEnd - Store.toolingSegmentHeaderSize) }
        /// Bytes a compaction could reclaim: overwritten and removed records, tombstones, batch headers.
        var deadBytes: Int { max(0, dataBytes - liveBytes) }
        /// Dead bytes as a share of data bytes.
        var fragmentation: Double { dataBytes > 0 ? Double(deadBytes) / Double(dataBytes) : 0 }
        /// The share of puts stored compressed.
        var compressedShare: Double { puts > 0 ? Double(compressedPuts) / Double(puts) : 0 }
    }

    /// A large live value.
    struct Value {
        var key: [UInt8]
        var rawLength: Int
        var storedLength: Int
        var segmentID: UInt32
    }

    var segments: [Segment] = []
    /// The largest live values, largest first.
    var largest: [Value] = []
    var liveKeys = 0
    /// Live values' bytes before and after compression.
    var liveRawValueBytes = 0
    var liveStoredValueBytes = 0
    /// Live values compressed against each dictionary: how many, and their bytes raw and stored.
    var dictionaryUse: [UInt16: (values: Int, raw: Int, stored: Int)] = [:]

    var liveBytes: Int { segments.reduce(0) { $0 + $1.liveBytes } }
    var deadBytes: Int { segments.reduce(0) { $0 + $1.deadBytes } }
    var dataBytes: Int { segments.reduce(0) { $0 + $1.dataBytes } }
    var fragmentation: Double { dataBytes > 0 ? Double(deadBytes) / Double(dataBytes) : 0 }
    /// Raw ÷ stored bytes of the live values (1 when nothing is compressed).
    var compressionRatio: Double { liveStoredValueBytes > 0 ? Double(liveRawValueBytes) / Double(liveStoredValueBytes) : 1 }
    var damage: [ToolingDamage] { segments.flatMap(\.damage) }

    /// Reads every record of `store`, keeping the `top` largest live values.
    ///
    /// The store is opened read-only, so a writer in another process may be writing to it
    /// meanwhile: the survey starts from the segments on disk now, counts the active one up to
    /// where its records end at that moment, and leaves out a segment that compaction deletes
    /// before it is read (its live records were copied to the end of the log first).
    init(_ store: Store, top: Int) throws {
        let files = try Self.segmentsNow(store)
        let progress = Progress("reading segments", total: files.reduce(0) { $0 + $1.dataEnd })
        defer { progress.finish() }
        var done = 0
        for file in files {
            var s = Segment(segment: file)
            let before = (largest, liveKeys, liveRawValueBytes, liveStoredValueBytes)
            do {
                s.damage = try store.toolingScan(file) { r in
                    s.records += 1
                    if r.isDelete { s.deletes += 1 } else { s.puts += 1 }
                    if r.isCompressed { s.compressedPuts += 1 }
                    if r.isLive {
                        s.liveRecords += 1
                        s.liveBytes += r.footprint
                        liveKeys += 1
                        liveRawValueBytes += r.rawValueLength
                        liveStoredValueBytes += r.storedValueLength
                        if r.dictionaryID != 0 {
                            let u = dictionaryUse[r.dictionaryID] ?? (0, 0, 0)
                            dictionaryUse[r.dictionaryID] = (u.values + 1, u.raw + r.rawValueLength, u.stored + r.storedValueLength)
                        }
                        if top > 0 { keep(Value(key: Array(r.key), rawLength: r.rawValueLength, storedLength: r.storedValueLength, segmentID: file.id), top: top) }
                    }
                    progress.set(done + r.offset)
                }
            } catch where Store.toolingPathKind(file.path) == .missing {
                // Deleted by the writer's compaction before (or while) it was read.
                (largest, liveKeys, liveRawValueBytes, liveStoredValueBytes) = before
                done += file.dataEnd
                continue
            }
            done += file.dataEnd
            segments.append(s)
        }
    }

    /// The store's segments as they are on disk now, each with where its records end.
    ///
    /// A read-only store's view lists the segments it has met since it was opened; its statistics
    /// list the directory again (segments a writer created join, ones compaction deleted leave),
    /// and its access moves it to the index the writer uses now (growing the index replaces its
    /// file). A segment deleted in between is not found (`ENOENT`): then it all starts again.
    static func segmentsNow(_ store: Store) throws -> [ToolingSegment] {
        var attempts = 0
        while true {
            attempts += 1
            let writing = LiveAccess(try store.access).hasWriter
            _ = try store.statistics
            let segments: [ToolingSegment]
            do {
                segments = try store.toolingSegments()
            } catch {
                guard error.errno == ENOENT, attempts < 8 else { throw error }
                continue
            }
            // A segment the writer has just created, listed before the index's covered position
            // moved into it, is given its whole preallocated file as records (the library counts
            // such a segment as empty elsewhere); the writer moves that position a moment later.
            // An active segment whose records fill its file exactly is taken as it is after a few tries.
            if writing, attempts < 4, let last = segments.last, last.isActive, last.dataEnd == last.fileSize,
               last.fileSize > Store.toolingSegmentHeaderSize {
                continue
            }
            return segments
        }
    }

    /// One line per damaged region, then what to run: stat and segments count past damage, so
    /// their figures hold, but the damaged records themselves are lost to the store.
    func warnAboutDamage(store: String) {
        let damage = self.damage
        guard !damage.isEmpty else { return }
        for d in damage { Console.diagnostic("warning: " + Self.describe(d) + "; the records after it were counted") }
        let regions = "\(damage.count) damaged region\(damage.count == 1 ? "" : "s")"
        Console.diagnostic("warning: \(regions): `kvtool verify \(store)` lists every problem; "
                           + "`kvtool salvage \(store) --output DIR` copies every record that checks out into a new store")
    }

    /// `FILE @OFFSET: REASON (N bytes skipped)`, as `verify` names a place.
    static func describe(_ d: ToolingDamage) -> String {
        "\(d.path) @\(d.offset): \(d.reason) (\(Format.count(d.length)) byte\(d.length == 1 ? "" : "s") skipped)"
    }

    /// One damaged region, for the JSON of stat and segments.
    static func json(_ d: ToolingDamage) -> JSON {
        .object([("file", .string(d.path)), ("offset", .int(d.offset)), ("length", .int(d.length)), ("reason", .string(d.reason))])
    }

    /// Keeps `value` if it is among the `top` largest so far.
    private mutating func keep(_ value: Value, top: Int) {
        if largest.count == top, let smallest = largest.last, smallest.rawLength >= value.rawLength { return }
        var low = 0, high = largest.count
        while low < high {
            let mid = (low + high) / 2
            if largest[mid].rawLength >= value.rawLength { low = mid + 1 } else { high = mid }
        }
        largest.insert(value, at: low)
        if largest.count > top { largest.removeLast() }
    }
}
