// The protocol shared by the live-reader modes of kvstore-crash-child (--live-writer, --live-reader,
// --live-check; Tests/KVStoreTests/Crash/LiveReaderCrashTests.swift and Tests/KVStoreTests/LiveReaders).
//
// Keys are "k<i>" for i < KEYS. Each key has a version counter; version v of key i is a removal when
// v % 4 == 3, otherwise a put of `LiveValues.value(key: i, version: v)`: "k<i>v<v>;" and then filler
// (compressible or not) up to a length that depends on (i, v), 9 bytes to 16 KiB. A reader can thus
// tell from any bytes it reads which key and version they claim to be, and check them exactly.
//
// The oracle file holds one little-endian UInt64 per key at offset 8 * i: the version of key i that
// the writer saw *acknowledged* (its call returned). The writer stores it after each operation
// returns, through a shared mapping, so the page cache keeps it across kill -9 and the next writer
// continues from it. A write may be applied and not acknowledged (killed in between): the next
// writer writes the same version again, with the same bytes, so a key's stored version is at most
// its acknowledged one + 1.

import KVStore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum LiveValues {
    static func key(_ i: Int) -> [UInt8] { Array("k\(i)".utf8) }

    static func isRemoval(_ version: UInt64) -> Bool { version % 4 == 3 }

    /// The bytes of version `version` (not a removal) of key `i`.
    static func value(key i: Int, version: UInt64) -> [UInt8] {
        var rng = SplitMix64(state: UInt64(i) &* 0x9E37_79B9_7F4A_7C15 ^ version &* 0xC2B2_AE3D_27D4_EB4F)
        let r = rng.next() % 100
        let length: Int
        switch r {
        case ..<25: length = Int(rng.next() % 32)
        case ..<85: length = 32 + Int(rng.next() % 480)
        case ..<98: length = 512 + Int(rng.next() % 3_584)
        default: length = 4_096 + Int(rng.next() % 12_288)
        }
        let stamp = Array("k\(i)v\(version);".utf8)
        var out = stamp
        out.reserveCapacity(max(length, stamp.count) + 8)
        if rng.next() & 1 == 0 {
            while out.count < length { out += stamp }
        } else {
            while out.count < length { withUnsafeBytes(of: rng.next()) { out.append(contentsOf: $0) } }
        }
        return Array(out.prefix(max(length, stamp.count)))
    }

    /// The key and version that `bytes` claim to be (their stamp), or nil.
    static func stamp(of bytes: [UInt8]) -> (key: Int, version: UInt64)? {
        var i = 0
        func number() -> UInt64? {
            var n: UInt64 = 0, digits = 0
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9"), digits < 19 {
                n = n * 10 + UInt64(bytes[i] - UInt8(ascii: "0"))
                i += 1
                digits += 1
            }
            return digits == 0 ? nil : n
        }
        guard i < bytes.count, bytes[i] == UInt8(ascii: "k") else { return nil }
        i += 1
        guard let key = number(), i < bytes.count, bytes[i] == UInt8(ascii: "v") else { return nil }
        i += 1
        guard let version = number(), i < bytes.count, bytes[i] == UInt8(ascii: ";") else { return nil }
        return (Int(key), version)
    }

    /// Why `bytes` (nil: the key was absent) cannot be what a read of key `i` returned, given that
    /// the oracle said `low` before the read began and `high` after it returned; nil if they can.
    static func judgeValue(key i: Int, _ bytes: [UInt8]?, low: UInt64, high: UInt64) -> String? {
        guard high >= low else { return "the oracle went backwards for key \(i): \(low) then \(high)" }
        guard let bytes else {
            if low == 0 || removalIn(low, high + 1) { return nil }
            return "key \(i) read as absent, but versions \(low)...\(high + 1) hold no removal (acknowledged \(low) before the read)"
        }
        guard let (k, v) = stamp(of: bytes) else {
            return "key \(i) read as \(bytes.count) bytes that carry no stamp (first bytes \(hex(Array(bytes.prefix(16)))))"
        }
        guard k == i else { return "key \(i) read as a value of key \(k) (version \(v))" }
        guard !isRemoval(v), v > 0 else { return "key \(i) read as version \(v), which is never a put" }
        guard bytes == value(key: i, version: v) else {
            return "key \(i) read as \(bytes.count) bytes stamped version \(v) that differ from what version \(v) wrote (\(value(key: i, version: v).count) bytes)"
        }
        guard v >= low else { return "key \(i) read as version \(v), older than version \(low) acknowledged before the read began" }
        guard v <= high + 1 else { return "key \(i) read as version \(v), but only \(high) was acknowledged after the read returned" }
        return nil
    }

    /// The same for `containsKey`.
    static func judgeContains(key i: Int, _ present: Bool, low: UInt64, high: UInt64) -> String? {
        guard high >= low else { return "the oracle went backwards for key \(i): \(low) then \(high)" }
        if present {
            var v = max(low, 1)
            while v <= high + 1 {
                if !isRemoval(v) { return nil }
                v += 1
            }
            return "containsKey(k\(i)) is true, but versions \(low)...\(high + 1) are all removals"
        }
        if low == 0 || removalIn(low, high + 1) { return nil }
        return "containsKey(k\(i)) is false, but versions \(low)...\(high + 1) hold no removal"
    }

    static func removalIn(_ low: UInt64, _ high: UInt64) -> Bool {
        if high >= low + 3 { return true }
        var v = low
        while v <= high {
            if isRemoval(v) { return true }
            v += 1
        }
        return false
    }
}

/// The oracle file, mapped shared: one atomic UInt64 per key.
final class LiveOracle {
    let count: Int
    private let base: UnsafeMutableRawPointer

    init(path: String, keys: Int, writable: Bool) {
        count = keys
        let fd = open(path, (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0o644)
        if fd < 0 { fail("cannot open the oracle \(path): errno \(errno)") }
        var st = stat()
        if fstat(fd, &st) != 0 { fail("fstat of the oracle: errno \(errno)") }
        if Int(st.st_size) < keys * 8 {
            guard writable, ftruncate(fd, off_t(keys * 8)) == 0 else { fail("the oracle \(path) holds fewer than \(keys) keys") }
        }
        guard let mapping = mmap(nil, keys * 8, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0),
              mapping != MAP_FAILED else { fail("mmap of the oracle: errno \(errno)") }
        close(fd)
        base = mapping
    }

    private func word(_ i: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + i * 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    func load(_ i: Int) -> UInt64 { word(i).pointee.load(ordering: .acquiring) }
    func store(_ i: Int, _ version: UInt64) { word(i).pointee.store(version, ordering: .releasing) }
}

/// Options after the positional arguments: `--name value` or `--flag`.
struct LiveArguments {
    var positional: [String] = []
    var options: [String: String] = [:]

    init(_ arguments: ArraySlice<String>, flags: Set<String>) {
        var it = arguments.makeIterator()
        while let argument = it.next() {
            if argument.hasPrefix("--") {
                if flags.contains(argument) { options[argument] = "" } else {
                    guard let value = it.next() else { fail("\(argument) needs a value") }
                    options[argument] = value
                }
            } else {
                positional.append(argument)
            }
        }
    }

    func int(_ name: String) -> Int? {
        guard let text = options[name] else { return nil }
        guard let n = Int(text) else { fail("\(name) must be a number, not \(text)") }
        return n
    }
}

/// A line on stdout, written at once (no buffer a kill could lose).
func liveSay(_ line: String) {
    var line = line + "\n"
    line.withUTF8 { buffer in
        var done = 0
        while done < buffer.count {
            let n = write(1, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}

/// A random key of the `active` first ones: half of the time one of the hot tenth.
func liveRandomKey(_ rng: inout SplitMix64, active: Int) -> Int {
    let hot = max(1, active / 10)
    return rng.next() & 1 == 0 ? Int(rng.next() % UInt64(hot)) : Int(rng.next() % UInt64(active))
}

/// Dispatches `--live-*` modes. Never returns.
func runLiveMode(_ arguments: [String]) -> Never {
    switch arguments[1] {
    case "--live-writer": runLiveWriter(arguments.dropFirst(2))
    case "--live-reader": runLiveReader(arguments.dropFirst(2))
    case "--live-check": runLiveCheck(arguments.dropFirst(2))
    default: fail("unknown mode \(arguments[1])")
    }
}
