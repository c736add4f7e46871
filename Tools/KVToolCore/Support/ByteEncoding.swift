import ArgumentParser

/// How key and value bytes are shown (`--encoding`) or read from arguments (`--key-encoding`).
enum ByteEncoding: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// Printable UTF-8 as it is; anything else as `0x` and hex. For people, not for round trips.
    case auto
    /// UTF-8 text; invalid sequences are shown as U+FFFD when rendering, so it is lossy for binary data.
    case utf8
    /// Lowercase hexadecimal, two digits per byte.
    case hex
    /// Standard base64 (RFC 4648) with padding.
    case base64

    /// `bytes` as text in this encoding.
    func render(_ bytes: some Collection<UInt8>) -> String {
        switch self {
        case .auto:
            if let text = Self.printableText(bytes) { return text }
            return "0x" + Hex.encode(bytes)
        case .utf8: return String(decoding: bytes, as: UTF8.self)
        case .hex: return Hex.encode(bytes)
        case .base64: return Base64.encode(Array(bytes))
        }
    }

    /// The bytes an argument stands for in this encoding; `nil` when it is not valid. `auto` and
    /// `utf8` take the argument's UTF-8 bytes; `hex` accepts an optional `0x` prefix.
    func parse(_ text: String) -> [UInt8]? {
        switch self {
        case .auto, .utf8: return Array(text.utf8)
        case .hex: return Hex.decode(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text)
        case .base64: return Base64.decode(text)
        }
    }

    /// The text, when the bytes are valid UTF-8 without control characters.
    static func printableText(_ bytes: some Collection<UInt8>) -> String? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let printable = text.unicodeScalars.allSatisfy { s in
            !(s.value < 0x20 || (s.value >= 0x7F && s.value < 0xA0))
        }
        return printable ? text : nil
    }
}

/// Hexadecimal coding.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `nil` for an odd length or a non-hex character; either case of letters is accepted.
    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let high = value(chars[i]), let low = value(chars[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Base64 (RFC 4648, standard alphabet, padded).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `nil` for characters outside the alphabet or a bad length. Padding may be left out.
    static func decode(_ text: String) -> [UInt8]? {
        var chars = Array(text.utf8)
        while chars.last == UInt8(ascii: "=") { chars.removeLast() }
        guard chars.count % 4 != 1, text.utf8.count - chars.count <= 2 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for c in chars {
            let v = reverse[Int(c)]
            guard v != 0xFF else { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }
}
