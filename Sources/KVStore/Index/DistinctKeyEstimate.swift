#if canImport(Glibc)
import Glibc
#endif

/// How many distinct keys a stream of key hashes holds, within a few percent, in 4 KiB
/// (HyperLogLog, Flajolet et al. 2007, with its linear-counting correction for small counts).
///
/// What a rebuild sizes its table by before it has offered a single record: the number of records
/// overstates the keys by the history's overwrite factor (3× for a store written three times, and
/// a table that large would have to be copied down at the end), while the estimate is within about
/// 2% (1.04 / √4096). An underestimate only costs a growth of the table.
struct DistinctKeyEstimate {
    private static let bits = 12
    private var registers = [UInt8](repeating: 0, count: 1 << bits)

    @inline(__always) mutating func add(_ hash: UInt64) {
        let register = Int(truncatingIfNeeded: hash >> UInt64(64 - Self.bits))
        // The rank of the remaining bits: where their first 1 is, counting from the top (1-based).
        let rest = hash << UInt64(Self.bits) | 1 << UInt64(Self.bits - 1)
        let rank = UInt8(rest.leadingZeroBitCount + 1)
        registers.withUnsafeMutableBufferPointer { r in
            if r[register] < rank { r[register] = rank }
        }
    }

    /// Adds what `other` saw (the union of the two streams).
    mutating func merge(_ other: DistinctKeyEstimate) {
        for i in registers.indices where registers[i] < other.registers[i] { registers[i] = other.registers[i] }
    }

    var estimate: Int {
        let m = Double(registers.count)
        var sum = 0.0
        var zeros = 0
        for r in registers {
            sum += 1 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let raw = 0.7213 / (1 + 1.079 / m) * m * m / sum
        if raw <= 2.5 * m, zeros > 0 { return Int((m * log(m / Double(zeros))).rounded()) }
        return Int(raw.rounded())
    }
}
