/// Reads the records of a segment in order with large sequential `pread`s.
///
/// Torn tail or corruption is not decided here: the scanner reports where the readable log stops
/// (``Event/invalid``) and the caller, who knows whether this is the active segment, decides
/// (FORMAT.md §6). Batches are checked whole before any of their members is reported, so a
/// caller never sees part of a batch.
struct SegmentScanner: ~Copyable {
    /// A record found by the scanner. The pointers are valid until the next call to ``next()``.
    struct Record {
        var offset: Int
        var header: RecordHeader
        var key: UnsafeRawBufferPointer
        var storedValue: UnsafeRawBufferPointer
        /// Set for the members of a batch; the batch's own header record is not reported.
        var inBatch: Bool
        /// The record's own bytes, header included (for copying it elsewhere).
        var bytes: UnsafeRawBufferPointer
    }

    enum Event {
        case record(Record)
        /// A zero commit word or the end of the file: nothing more was written.
        case end(offset: Int)
        /// Bytes at `offset` are not a valid record (or a batch there is incomplete).
        case invalid(offset: Int, reason: String)
    }

    let file: SegmentFile
    /// Held for the whole scan: a cursor or a compaction keeps reading a segment that the
    /// descriptor cache closes, or that compaction deletes, meanwhile.
    private let descriptor: SegmentDescriptor
    private let limit: Int
    private(set) var offset: Int
    private var buffer: UnsafeMutableRawPointer
    private var bufferCapacity: Int
    private var bufferStart = 0
    private var bufferCount = 0
    private var batchRemaining = 0

    /// Scans `file` from `start` to `limit` (the file size when `nil`).
    init(file: SegmentFile, from start: Int = SegmentHeader.size, limit: Int? = nil, bufferSize: Int = 1 << 20) throws(KVError) {
        let descriptor = try file.descriptors.descriptor(for: file)
        var end = limit ?? 0
        if limit == nil {
            do { end = Int(try Sys.fileSize(descriptor.fd)) } catch { throw error.kvError("fstat", path: file.path) }
        }
        self.file = file
        self.descriptor = descriptor
        self.limit = end
        self.offset = start
        self.bufferCapacity = bufferSize
        self.buffer = .allocate(byteCount: bufferSize, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    /// Makes `[at, at+count)` (clipped to the limit) available in the buffer; returns how many bytes are.
    private mutating func fill(_ at: Int, _ count: Int) throws(KVError) -> Int {
        let wanted = max(0, min(count, limit - at))
        if at >= bufferStart && at + wanted <= bufferStart + bufferCount { return wanted }
        if wanted > bufferCapacity {
            buffer.deallocate()
            bufferCapacity = alignedTo8(wanted) + 4096
            buffer = .allocate(byteCount: bufferCapacity, alignment: 4096)
        }
        let toRead = min(bufferCapacity, limit - at)
        bufferStart = at
        do { bufferCount = try Sys.pread(descriptor.fd, buffer, toRead, Int64(at)) } catch {
            bufferCount = 0
            throw error.kvError("pread", path: file.path, offset: Int64(at))
        }
        return min(wanted, bufferCount)
    }

    private func pointer(_ at: Int) -> UnsafeMutableRawPointer { buffer + (at - bufferStart) }

    /// Parses the record at `at` without consuming it.
    private mutating func parse(at: Int) throws(KVError) -> RecordParse {
        var available = try fill(at, RecordHeader.size)
        if available >= RecordHeader.size {
            // Peek at the (unverified) lengths only to size the read; parse() checks everything.
            let p = UnsafeRawPointer(pointer(at))
            let length = RecordHeader.claimedLength(p)
            if length > available && length <= limit - at
                && length <= RecordHeader.size + Limits.maximumKeyLength + Limits.maximumValueLength {
                available = try fill(at, length)
            }
        }
        return RecordHeader.parse(pointer(at), available: available)
    }

    mutating func next() throws(KVError) -> Event {
        if offset >= limit { return .end(offset: offset) }
        let at = offset
        switch try parse(at: at) {
        case .end:
            return .end(offset: at)
        case .invalid(let reason):
            return .invalid(offset: at, reason: batchRemaining > 0 ? "batch member: " + reason : reason)
        case .record(let header):
            if header.kind == .batch {
                guard batchRemaining == 0 else { return .invalid(offset: at, reason: "batch nested in a batch") }
                let count = RecordHeader.batchCount(pointer(at))
                if let problem = try checkBatch(after: at + header.alignedLength, count: count) {
                    return .invalid(offset: at, reason: problem)
                }
                offset = at + header.alignedLength
                batchRemaining = count
                return try next()
            }
            let inBatch = batchRemaining > 0
            if inBatch { batchRemaining -= 1 }
            offset = at + header.alignedLength
            let p = UnsafeRawPointer(pointer(at))
            return .record(Record(
                offset: at, header: header,
                key: UnsafeRawBufferPointer(start: p + RecordHeader.size, count: header.keyLength),
                storedValue: UnsafeRawBufferPointer(start: p + RecordHeader.size + header.keyLength, count: header.storedValueLength),
                inBatch: inBatch,
                bytes: UnsafeRawBufferPointer(start: p, count: header.length)))
        }
    }

    /// Confirms that `count` valid put/delete records follow; returns what is wrong otherwise.
    private mutating func checkBatch(after start: Int, count: Int) throws(KVError) -> String? {
        var at = start
        for _ in 0..<count {
            guard case .record(let header) = try parse(at: at) else { return "incomplete batch" }
            guard header.kind != .batch else { return "batch nested in a batch" }
            at += header.alignedLength
        }
        return nil
    }
}

extension SegmentScanner {
    /// The first 8-byte boundary after `damaged` (and before `end`) where a whole, checksummed
    /// record starts: how `verify`, `kvtool dump` and `salvage` get past a damaged record. Cheap
    /// header checks first; only a plausible header is read whole and checksummed.
    static func nextValidRecord(in file: SegmentFile, after damaged: Int, end: Int) throws(KVError) -> Int? {
        let window = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: window, alignment: 16)
        defer { buffer.deallocate() }
        var base = alignedTo8(damaged + 1)
        while base + RecordHeader.size <= end {
            let n = try file.read(into: buffer, count: min(window, end - base), at: base)
            guard n >= RecordHeader.size else { return nil }
            var at = 0
            while at + RecordHeader.size <= n {
                let p = UnsafeRawPointer(buffer + at)
                if let length = RecordHeader.plausibleLength(p, available: n - at) {
                    if length <= end - (base + at), length <= Limits.maximumRecordLength {
                        let whole = try ScratchBuffer.with(length) { (record) throws(KVError) -> Bool in
                            let m = try file.read(into: record, count: length, at: base + at)
                            if case .record = RecordHeader.parse(record, available: m) { return true }
                            return false
                        }
                        if whole { return base + at }
                    }
                }
                at += 8
            }
            base += (n - RecordHeader.size + 8) & ~7
        }
        return nil
    }
}
