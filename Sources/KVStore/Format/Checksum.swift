import CKVSupport

/// CRC-32C (Castagnoli), the checksum of every record, header and hint file (FORMAT.md, "Conventions").
/// Hardware-accelerated where the CPU has a CRC instruction.
enum CRC32C {
    @inline(__always)
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        kv_crc32c_extend(0, bytes.baseAddress, bytes.count)
    }

    @inline(__always)
    static func checksum(_ pointer: UnsafeRawPointer, count: Int) -> UInt32 {
        kv_crc32c_extend(0, pointer, count)
    }

    @inline(__always)
    static func extend(_ crc: UInt32, _ pointer: UnsafeRawPointer, count: Int) -> UInt32 {
        kv_crc32c_extend(crc, pointer, count)
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
