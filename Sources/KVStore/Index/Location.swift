// See FORMAT.md §4.2 "Slots".

/// Where a record lives, packed into the 64-bit location word of an index slot:
///
/// ```
/// bits 63..44  segmentID     20 bits
/// bits 43..16  offset / 8    28 bits (records start on 8-byte boundaries; segments ≤ 2 GiB)
/// bits 15..0   lengthCode    16 bits: the record's length, rounded up (see below)
/// ```
/// The length lets a get read the whole record with exactly one `pread`. It is stored as a small
/// float in 8-byte units: `units = mantissa << exponent` with an 11-bit mantissa and a 5-bit
/// exponent, rounded up, so it is exact below 16 KiB and over-reads by less than 0.1% above.
struct Location: Equatable, Hashable, Sendable {
    var segmentID: UInt32
    var offset: Int
    /// At least the record's length (exact below 16 KiB).
    var readLength: Int

    init(segmentID: UInt32, offset: Int, readLength: Int) {
        self.segmentID = segmentID
        self.offset = offset
        self.readLength = readLength
    }

    /// A location for a record of exactly `recordLength` bytes.
    init(segmentID: UInt32, offset: Int, recordLength: Int) {
        self.init(segmentID: segmentID, offset: offset,
                  readLength: Self.decodeLength(Self.encodeLength(recordLength)))
    }

    init(word: UInt64) {
        segmentID = UInt32(truncatingIfNeeded: word >> 44)
        offset = Int((word >> 16) & 0x0FFF_FFFF) << 3
        readLength = Self.decodeLength(UInt16(truncatingIfNeeded: word))
    }

    var word: UInt64 {
        UInt64(segmentID) << 44 | UInt64(offset >> 3) << 16 | UInt64(Self.encodeLength(readLength))
    }

    /// The longest read a valid location asks for: the length code of the longest record the
    /// format allows, which rounds up by less than 0.1% (so it is above the record's length).
    static let maximumReadLength = decodeLength(encodeLength(Limits.maximumRecordLength))

    static func encodeLength(_ length: Int) -> UInt16 {
        var units = (length + 7) >> 3
        var exponent = 0
        while units > 0x7FF {
            // Round up while shifting so the decoded length never undershoots.
            units = (units + 1) >> 1
            exponent += 1
        }
        return UInt16(exponent << 11 | units)
    }

    static func decodeLength(_ code: UInt16) -> Int {
        (Int(code & 0x7FF) << Int(code >> 11)) << 3
    }
}
