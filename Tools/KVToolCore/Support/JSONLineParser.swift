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

    /// A field's value. Numbers keep their text, so that a caller can tell `1` from `1.0`.
    enum Value: Equatable {
        case string(String)
        case number(String)
        case bool(Bool)
        case null

        var string: String? {
            if case .string(let s) = self { return s }
            return nil
        }
    }

    /// The object's fields. A name that appears twice is refused: which one wins differs from
    /// one JSON reader to the next, so a line like `{"key":"a","key":"b"}` has no one meaning.
    mutating func parseObject() throws(Failure) -> [String: Value] {
        var fields: [String: Value] = [:]
        skipSpace()
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek == UInt8(ascii: "}") {
            at += 1
        } else {
            while true {
                skipSpace()
                let nameStart = at
                let name = try string()
                guard fields[name] == nil else {
                    throw Failure(column: nameStart + 1, message: "the field \"\(name)\" appears twice")
                }
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

    /// A string, number, boolean or null.
    private mutating func scalar() throws(Failure) -> Value {
        switch peek {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"), UInt8(ascii: "["): throw fail("nested objects and arrays are not accepted")
        case nil: throw fail("a value is missing")
        default:
            let start = at
            while let c = peek, c != UInt8(ascii: ","), c != UInt8(ascii: "}"), c != 0x20, c != 0x09, c != 0x0D, c != 0x0A { at += 1 }
            let word = bytes[start..<at]
            switch String(decoding: word, as: UTF8.self) {
            case "null": return .null
            case "true": return .bool(true)
            case "false": return .bool(false)
            default:
                // JSON's own grammar: Double(_:) would also take "nan", "inf", "+1" and "0x1p3".
                guard Self.isJSONNumber(word) else {
                    at = start
                    throw fail("not a JSON value")
                }
                return .number(String(decoding: word, as: UTF8.self))
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    private static func isJSONNumber(_ word: ArraySlice<UInt8>) -> Bool {
        var i = word.startIndex
        func digits() -> Int {
            let from = i
            while i < word.endIndex, isDigit(word[i]) { i += 1 }
            return i - from
        }
        if i < word.endIndex, word[i] == UInt8(ascii: "-") { i += 1 }
        if i < word.endIndex, word[i] == UInt8(ascii: "0") {
            i += 1
        } else if digits() == 0 {
            return false
        }
        if i < word.endIndex, word[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < word.endIndex, word[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < word.endIndex, word[i] == UInt8(ascii: "+") || word[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == word.endIndex
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

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

    /// Exactly four hex digits: UInt32(_:radix:) alone would also take a sign, as in `\u+041`.
    private mutating func hex4() throws(Failure) -> UInt32 {
        guard at + 4 <= bytes.count else { throw fail("bad \\u escape") }
        var v: UInt32 = 0
        for c in bytes[at..<at + 4] {
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail("bad \\u escape")
            }
            v = v << 4 | UInt32(digit)
        }
        at += 4
        return v
    }
}
