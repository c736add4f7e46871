/// Reads one JSON object whose values are strings, numbers, booleans or null (an NDJSON line of
/// `kvtool export`). Nested values are refused.
struct JSONLineParser {
    private let bytes: [UInt8]
    private var at = 0

    /// A parse failure, with the column (1-based) where it happened.
    struct Failure: Error {
        var column: Int
        var message: String
    }

    init(_ line: [UInt8]) { bytes = line }

    /// The object's fields; string values as strings, others as `nil`.
    mutating func parseObject() throws(Failure) -> [String: String?] {
        var fields: [String: String?] = [:]
        skipSpace()
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek == UInt8(ascii: "}") {
            at += 1
        } else {
            while true {
                skipSpace()
                let name = try string()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                fields[name] = try scalar()
                skipSpace()
                if peek == UInt8(ascii: ",") { at += 1; continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        skipSpace()
        guard at == bytes.count else { throw fail("unexpected characters after the object") }
        return fields
    }

    private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    private func fail(_ message: String) -> Failure { Failure(column: at + 1, message: message) }

    private mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A { at += 1 }
    }

    private mutating func expect(_ c: UInt8) throws(Failure) {
        guard peek == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
        at += 1
    }

    /// A string, number, boolean or null; only strings have a value.
    private mutating func scalar() throws(Failure) -> String? {
        switch peek {
        case UInt8(ascii: "\""): return try string()
        case UInt8(ascii: "{"), UInt8(ascii: "["): throw fail("nested objects and arrays are not accepted")
        case nil: throw fail("a value is missing")
        default:
            let start = at
            while let c = peek, c != UInt8(ascii: ","), c != UInt8(ascii: "}"), c != 0x20, c != 0x09 { at += 1 }
            let word = String(decoding: bytes[start..<at], as: UTF8.self)
            guard word == "null" || word == "true" || word == "false" || Double(word) != nil else {
                at = start
                throw fail("not a JSON value")
            }
            return nil
        }
    }

    private mutating func string() throws(Failure) -> String {
        try expect(UInt8(ascii: "\""))
        var scalars = String.UnicodeScalarView()
        var run = at  // start of the current run of plain bytes
        func flush(_ end: Int) throws(Failure) {
            guard run < end else { return }
            guard let text = String(validating: bytes[run..<end], as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
            scalars.append(contentsOf: text.unicodeScalars)
        }
        while true {
            guard let c = peek else { throw fail("unterminated string") }
            if c == UInt8(ascii: "\"") {
                if scalars.isEmpty {  // no escapes: the bytes are the string
                    guard let text = String(validating: bytes[run..<at], as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                    at += 1
                    return text
                }
                try flush(at)
                at += 1
                return String(scalars)
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") { at += 1; continue }
            try flush(at)
            at += 1
            guard let e = peek else { throw fail("unterminated escape") }
            at += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard peek == UInt8(ascii: "\\"), at + 1 < bytes.count, bytes[at + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate")
                    }
                    at += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                    code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("unpaired surrogate") }
                scalars.append(scalar)
            default:
                throw fail("unknown escape")
            }
            run = at
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard at + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[at..<at + 4], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        at += 4
        return v
    }
}
