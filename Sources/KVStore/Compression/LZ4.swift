import CLZ4

/// Per-record LZ4 block compression over the system liblz4 (FORMAT.md §3.2).
enum LZ4 {
    /// Values shorter than this are stored as they are: LZ4 costs ~300 ns per call here and
    /// rarely saves anything on a few dozen bytes.
    static let minimumInputLength = 32

    /// Compresses `source` into `destination`; returns the compressed length, or `nil` when the
    /// result would not be smaller than the input (then the value is stored raw).
    static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, capacity: Int) -> Int? {
        guard source.count >= minimumInputLength, source.count <= Int(LZ4_MAX_INPUT_SIZE), let src = source.baseAddress else { return nil }
        let n = LZ4_compress_default(src.assumingMemoryBound(to: CChar.self), destination.assumingMemoryBound(to: CChar.self),
                                     Int32(source.count), Int32(clamping: min(capacity, source.count - 1)))
        return n > 0 ? Int(n) : nil
    }

    /// Decompresses exactly `rawLength` bytes; `false` when the input is damaged. Never reads or
    /// writes outside the given buffers, whatever the input bytes are.
    static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, rawLength: Int) -> Bool {
        guard let src = source.baseAddress else { return rawLength == 0 }
        let n = LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self), destination.assumingMemoryBound(to: CChar.self),
                                    Int32(source.count), Int32(rawLength))
        return Int(n) == rawLength
    }

    /// Decompresses exactly `rawLength` bytes into a new array; `nil` when the input is damaged.
    static func decompressed(_ source: UnsafeRawBufferPointer, rawLength: Int) -> [UInt8]? {
        var ok = false
        let value = [UInt8](unsafeUninitializedCapacity: rawLength) { buffer, count in
            ok = buffer.baseAddress.map { decompress(source, into: $0, rawLength: rawLength) } ?? (rawLength == 0)
            count = ok ? rawLength : 0
        }
        return ok ? value : nil
    }
}
