/// The floor's key hash: a wyhash-style mix (64×64→128-bit multiply, high ⊕ low) over 8-byte words; about 2 ns for a
/// 16-byte key. Never returns 0, which marks an empty table slot.
@inline(__always)
func floorHash(_ key: UnsafeRawBufferPointer) -> UInt64 {
    let p0: UInt64 = 0xa076_1d64_78bd_642f, p1: UInt64 = 0xe703_7ed1_a0b4_28db, p2: UInt64 = 0x8ebc_6af0_9c88_c6e3
    @inline(__always) func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }
    let count = key.count
    var seed = p0 ^ UInt64(truncatingIfNeeded: count)
    var i = 0
    while count - i >= 16 {
        let a = key.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let b = key.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
        seed = mix(a ^ p1, b ^ seed)
        i += 16
    }
    var a: UInt64 = 0, b: UInt64 = 0
    var shift: UInt64 = 0
    while i < count && shift < 64 {
        a |= UInt64(key[i]) << shift
        shift += 8
        i += 1
    }
    shift = 0
    while i < count {
        b |= UInt64(key[i]) << shift
        shift += 8
        i += 1
    }
    let h = mix(p1 ^ UInt64(truncatingIfNeeded: count), mix(a ^ p1, b ^ seed ^ p2))
    return h == 0 ? 1 : h
}
