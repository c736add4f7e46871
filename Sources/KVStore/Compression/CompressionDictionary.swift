import CLZ4
#if canImport(Glibc)
import Glibc
#endif

/// A dictionary values are compressed against, one value at a time (FORMAT.md §3.2): its bytes,
/// in memory for as long as the store is open (they are small and every get of such a value reads
/// them), and liblz4's compression state with them loaded.
///
/// `LZ4_loadDict` hashes the whole dictionary (tens of microseconds for 64 KiB): too slow for each
/// value. It is done once here; each compression starts from a copy of that state (16 KiB, the
/// cost of the table `LZ4_compress_default` clears on every call anyway), so every value is
/// compressed as if it followed the dictionary and nothing else, and any thread can compress at
/// once. (`LZ4_attach_dictionary` would save the copy; liblz4 1.9.4 does not export it.)
final class CompressionDictionary: @unchecked Sendable {
    // @unchecked: nothing changes after init; compressions work on copies of `prepared`.
    let id: UInt16
    let firstSegment: UInt32
    let trainedOn: Int
    private let storage: UnsafeMutableRawBufferPointer
    private let prepared: UnsafeMutableRawPointer
    private static let stateSize = MemoryLayout<LZ4_stream_t>.size

    init(id: UInt16, bytes: [UInt8], firstSegment: UInt32, trainedOn: Int) {
        precondition(!bytes.isEmpty && bytes.count <= DictionaryLayout.maximumLength)
        self.id = id
        self.firstSegment = firstSegment
        self.trainedOn = trainedOn
        storage = .allocate(byteCount: bytes.count, alignment: 16)
        storage.copyBytes(from: bytes)
        prepared = .allocate(byteCount: Self.stateSize, alignment: 16)
        let stream = LZ4_initStream(prepared, Self.stateSize)
        _ = LZ4_loadDict(stream, storage.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
    }

    deinit {
        storage.deallocate()
        prepared.deallocate()
    }

    var count: Int { storage.count }
    var bytes: [UInt8] { Array(storage) }

    /// Compresses `source` against the dictionary into `destination`; the compressed length, or
    /// `nil` when it would not be smaller than the input (the value is then stored raw).
    func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, capacity: Int) -> Int? {
        guard source.count >= LZ4.minimumInputLength, source.count <= Int(LZ4_MAX_INPUT_SIZE), let src = source.baseAddress else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: Self.stateSize, alignment: 16) { state -> Int? in
            state.baseAddress!.copyMemory(from: prepared, byteCount: Self.stateSize)
            let stream = state.baseAddress!.assumingMemoryBound(to: LZ4_stream_t.self)
            let n = LZ4_compress_fast_continue(stream, src.assumingMemoryBound(to: CChar.self), destination.assumingMemoryBound(to: CChar.self),
                                               Int32(source.count), Int32(clamping: min(capacity, source.count - 1)), 1)
            return n > 0 ? Int(n) : nil
        }
    }

    /// Decompresses exactly `rawLength` bytes; `false` when the input is damaged (or was not
    /// compressed against this dictionary). Never reads or writes outside the given buffers.
    func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, rawLength: Int) -> Bool {
        guard let src = source.baseAddress else { return rawLength == 0 }
        let n = LZ4_decompress_safe_usingDict(src.assumingMemoryBound(to: CChar.self), destination.assumingMemoryBound(to: CChar.self),
                                              Int32(source.count), Int32(rawLength),
                                              storage.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(storage.count))
        return Int(n) == rawLength
    }
}
