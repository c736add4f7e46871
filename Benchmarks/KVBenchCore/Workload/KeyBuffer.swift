/// A reusable key buffer: key number n becomes the zero-padded decimal `%0<size>d` (16 bytes by default, as in
/// db_bench and the peer baseline), written in place so the hot loop never allocates.
///
/// Owned by one thread; call `deallocate()` when done.
public struct KeyBuffer {
    /// Key length in bytes.
    public let size: Int
    private let base: UnsafeMutableRawPointer
    private let pairs: UnsafeMutablePointer<UInt8>   // "00" "01" … "99"

    /// A buffer for keys of `size` bytes (at least 1).
    public init(size: Int) {
        precondition(size >= 1)
        self.size = size
        base = .allocate(byteCount: size, alignment: 16)
        base.initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "0"), count: size)
        pairs = .allocate(capacity: 200)
        for i in 0..<100 {
            pairs[2 * i] = UInt8(ascii: "0") + UInt8(i / 10)
            pairs[2 * i + 1] = UInt8(ascii: "0") + UInt8(i % 10)
        }
    }

    /// The current key's bytes (valid until the next `set`).
    @inline(__always)
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// Makes the buffer hold key number `number`. Digits beyond `size` are dropped from the front.
    @inline(__always)
    public func set(_ number: UInt64) {
        let out = base.assumingMemoryBound(to: UInt8.self)
        var n = number
        var i = size
        while i >= 2 {
            let pair = Int(n % 100)
            n /= 100
            out[i - 1] = pairs[2 * pair + 1]
            out[i - 2] = pairs[2 * pair]
            i -= 2
            if n == 0 { break }
        }
        if i == 1 {
            out[0] = UInt8(ascii: "0") + UInt8(n % 10)
            i = 0
        }
        while i > 0 {
            i -= 1
            out[i] = UInt8(ascii: "0")
        }
    }

    /// Makes the buffer hold a key that no benchmark writes: key `number` with its last digit replaced by "." (it
    /// sorts between existing keys, so range checks cannot reject it; the peer baseline's readmissing keys).
    @inline(__always)
    public func setMissing(_ number: UInt64) {
        set(number)
        base.storeBytes(of: UInt8(ascii: "."), toByteOffset: size - 1, as: UInt8.self)
    }

    /// The current key as a string (for messages and tests).
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Frees the buffer.
    public func deallocate() {
        base.deallocate()
        pairs.deallocate()
    }
}
