// The key hash of the index (FORMAT.md §4.3): wyhash, final-4 variant, seeded per store.
// It only has to be fast and well mixed; the key stored in the record decides every match.

/// How keys are hashed into the index.
enum KeyHasher: Sendable {
    /// wyhash with the store's random seed.
    case wyhash(seed: UInt64)
    /// Every key hashes to the same value. Tests only: it forces every lookup through key comparison.
    case constant(UInt64)
    /// wyhash folded onto `distinct` values. Tests only: many keys share each hash, so probes are
    /// long and key comparisons decide, without the quadratic cost of ``constant(_:)``.
    case colliding(seed: UInt64, distinct: UInt64)

    @inline(__always)
    func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        let h: UInt64
        switch self {
        case .wyhash(let seed): h = WyHash.hash(key, seed: seed)
        case .constant(let value): h = value
        case .colliding(let seed, let distinct): h = 2 &+ WyHash.hash(key, seed: seed) % max(1, distinct)
        }
        // 0 marks an empty slot and 1 a removed one (FORMAT.md §4.2).
        return h < 2 ? h &+ 2 : h
    }
}

enum WyHash {
    private static let s0: UInt64 = 0xa076_1d64_78bd_642f
    private static let s1: UInt64 = 0xe703_7ed1_a0b4_28db
    private static let s2: UInt64 = 0x8ebc_6af0_9c88_c6e3
    private static let s3: UInt64 = 0x5899_65cc_7537_4cc3

    @inline(__always) private static func mum(_ a: inout UInt64, _ b: inout UInt64) {
        let r = a.multipliedFullWidth(by: b)
        a = r.low
        b = r.high
    }

    @inline(__always) private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var a = a, b = b
        mum(&a, &b)
        return a ^ b
    }

    @inline(__always) private static func r8(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
    }

    @inline(__always) private static func r4(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
        UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
    }

    static func hash(_ key: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let len = key.count
        var seed = seed ^ mix(seed ^ s0, s1)
        var a: UInt64 = 0, b: UInt64 = 0
        guard let p = key.baseAddress, len > 0 else {
            a ^= s1; b ^= seed
            mum(&a, &b)
            return mix(a ^ s0 ^ UInt64(len), b ^ s1)
        }
        if len <= 16 {
            if len >= 4 {
                let q = (len >> 3) << 2
                a = (r4(p, 0) << 32) | r4(p, q)
                b = (r4(p, len - 4) << 32) | r4(p, len - 4 - q)
            } else {
                let b0 = UInt64(p.load(fromByteOffset: 0, as: UInt8.self))
                let bm = UInt64(p.load(fromByteOffset: len >> 1, as: UInt8.self))
                let bl = UInt64(p.load(fromByteOffset: len - 1, as: UInt8.self))
                a = (b0 << 16) | (bm << 8) | bl
            }
        } else {
            var i = len, o = 0
            if i > 48 {
                var see1 = seed, see2 = seed
                repeat {
                    seed = mix(r8(p, o) ^ s1, r8(p, o + 8) ^ seed)
                    see1 = mix(r8(p, o + 16) ^ s2, r8(p, o + 24) ^ see1)
                    see2 = mix(r8(p, o + 32) ^ s3, r8(p, o + 40) ^ see2)
                    o += 48; i -= 48
                } while i > 48
                seed ^= see1 ^ see2
            }
            while i > 16 {
                seed = mix(r8(p, o) ^ s1, r8(p, o + 8) ^ seed)
                i -= 16; o += 16
            }
            a = r8(p, o + i - 16)
            b = r8(p, o + i - 8)
        }
        a ^= s1
        b ^= seed
        mum(&a, &b)
        return mix(a ^ s0 ^ UInt64(len), b ^ s1)
    }
}
