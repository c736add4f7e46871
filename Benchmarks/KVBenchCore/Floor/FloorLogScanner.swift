/// Reads the floor's log from the start in 1 MiB chunks and hands over each complete record (used by the rebuild at
/// open and by the full scan).
enum FloorLogScanner {
    /// Calls `visit(offset, length, key, value)` for every complete record below `end` (`value` is nil for a
    /// removal) and returns the end of the last complete record (a torn tail stops the scan).
    static func scan(
        fd: Int32, path: String, end: Int64,
        _ visit: (_ offset: Int64, _ length: Int, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) -> Void
    ) throws -> Int64 {
        var capacity = 1 << 20
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 4096)
        defer { buffer.deallocate() }
        var chunkStart: Int64 = 0   // file offset of buffer[0]
        var filled = 0
        var position = 0            // parse position in buffer
        while true {
            // Parse every complete record in the buffer.
            while filled - position >= 8 {
                let keyLength = Int(buffer.loadUnaligned(fromByteOffset: position, as: UInt32.self))
                let marker = buffer.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)
                let valueLength = marker == FloorLog.removalMarker ? 0 : Int(marker)
                let length = 8 + keyLength + valueLength
                if filled - position < length {
                    if length > capacity {
                        let bigger = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 4096)
                        bigger.copyMemory(from: buffer + position, byteCount: filled - position)
                        buffer.deallocate()
                        buffer = bigger
                        capacity = length
                        chunkStart += Int64(position)
                        filled -= position
                        position = 0
                    }
                    break
                }
                let key = UnsafeRawBufferPointer(start: buffer + position + 8, count: keyLength)
                let value = marker == FloorLog.removalMarker
                    ? nil : UnsafeRawBufferPointer(start: buffer + position + 8 + keyLength, count: valueLength)
                visit(chunkStart + Int64(position), length, key, value)
                position += length
            }
            // Move the partial record to the front and read more.
            if position > 0 {
                (buffer).copyMemory(from: buffer + position, byteCount: filled - position)
                chunkStart += Int64(position)
                filled -= position
                position = 0
            }
            let wanted = min(capacity - filled, Int(max(0, end - chunkStart - Int64(filled))))
            if wanted == 0 { break }
            let n = try FloorIO.readSome(fd, buffer + filled, wanted, at: chunkStart + Int64(filled), path: path)
            if n == 0 { break }
            filled += n
        }
        return chunkStart + Int64(position)
    }
}
