import KVStore

/// The lines of `kvtool export` and `kvtool import`: a header line naming the encoding,
/// `{"kvtool-export":1,"encoding":"base64"}`, then one JSON object per pair,
/// `{"key":"…","value":"…"}`, the bytes written in base64 (the default), hex, or UTF-8 text.
/// Base64 and hex round-trip any bytes; UTF-8 only text, and is refused for anything else.
struct NDJSONCodec {
    /// The export format this build writes and reads (the header's `kvtool-export`).
    static let formatVersion = 1
    /// The header's field that marks it as one: no pair line has it.
    static let headerField = "kvtool-export"

    /// base64, hex or utf8.
    let encoding: ByteEncoding

    /// `auto` means base64 here: only base64 and hex round-trip every byte.
    init(_ encoding: ByteEncoding?) {
        self.encoding = encoding == nil || encoding == .auto ? .base64 : encoding!
    }

    /// A failure to encode or decode one line.
    struct Failure: Error {
        var message: String
    }

    /// The first line of an export, without its newline. Hex text is also valid base64 (and text
    /// can be either), so a reader could not tell the encoding from the pairs themselves.
    var header: String {
        JSON.object([(Self.headerField, .int(Self.formatVersion)), ("encoding", .string(encoding.rawValue))]).text
    }

    /// The encoding a header line records; `nil` when `line` is not a header (an export written
    /// before headers existed starts with a pair, or the line is malformed and will be reported
    /// as a pair).
    static func recordedEncoding(_ line: [UInt8]) throws(Failure) -> ByteEncoding? {
        var parser = JSONLineParser(line)
        guard let fields = try? parser.parseObject(), let version = fields[headerField] else { return nil }
        guard version == .number(String(formatVersion)) else {
            if case .number(let text) = version {
                throw Failure(message: "an export of format \(text); this kvtool reads format \(formatVersion)")
            }
            throw Failure(message: "the \"\(headerField)\" header field is not a format number")
        }
        guard let name = fields["encoding"]?.string, let encoding = ByteEncoding(rawValue: name), encoding != .auto else {
            throw Failure(message: "the header names no encoding this kvtool knows (base64, hex or utf8)")
        }
        return encoding
    }

    /// One line, without its newline.
    func line(key: [UInt8], value: [UInt8]) throws(Failure) -> String {
        if encoding != .utf8 {  // base64 and hex need no escaping
            return "{\"key\":\"" + encoding.render(key) + "\",\"value\":\"" + encoding.render(value) + "\"}"
        }
        return JSON.object([("key", .string(try text(key, "key"))), ("value", .string(try text(value, "value")))]).text
    }

    /// The key and value of a line.
    func parse(_ line: [UInt8]) throws(Failure) -> (key: [UInt8], value: [UInt8]) {
        var parser = JSONLineParser(line)
        let fields: [String: JSONLineParser.Value]
        do { fields = try parser.parseObject() } catch { throw Failure(message: "column \(error.column): \(error.message)") }
        if fields[Self.headerField] != nil {
            // Two exports joined: the second part may use another encoding.
            throw Failure(message: "an export header belongs on the first line only (were two exports joined?)")
        }
        guard let key = fields["key"]?.string else { throw Failure(message: "no \"key\" string") }
        guard let value = fields["value"]?.string else { throw Failure(message: "no \"value\" string") }
        return (try bytes(key, "key"), try bytes(value, "value"))
    }

    private func text(_ bytes: [UInt8], _ what: String) throws(Failure) -> String {
        if encoding == .utf8 {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw Failure(message: "a \(what) is not valid UTF-8; export with --encoding base64 or hex")
            }
            return text
        }
        return encoding.render(bytes)
    }

    private func bytes(_ text: String, _ what: String) throws(Failure) -> [UInt8] {
        guard let bytes = encoding.parse(text) else { throw Failure(message: "the \(what) is not valid \(encoding.rawValue)") }
        return bytes
    }
}

/// The pairs of an NDJSON input, decoded as its header says (or, for an export written before
/// headers existed, as `--encoding` says, base64 by default).
struct NDJSONPairReader {
    let input: InputFile
    let codec: NDJSONCodec
    private var number = 0
    /// The first line that is not blank, when it is a pair rather than a header.
    private var pending: (line: [UInt8], number: Int)?

    /// Reads up to the first line that is not blank. `requested` is the `--encoding` given.
    /// - Throws: ``ToolError`` 64 when `requested` contradicts the header, 65 for a bad header.
    init(_ input: InputFile, requested: ByteEncoding?) throws {
        self.input = input
        let explicit = requested == .auto ? nil : requested
        while let line = try input.nextLine() {
            number += 1
            if Self.isBlank(line) { continue }
            let recorded: ByteEncoding?
            do { recorded = try NDJSONCodec.recordedEncoding(line) } catch {
                throw ToolError(ExitStatus.dataError, "\(input.name):\(number): \(error.message)")
            }
            guard let recorded else {
                pending = (line, number)
                break
            }
            if let explicit, explicit != recorded {
                throw ToolError(ExitStatus.usage, "\(input.name): the export's header says its keys and values are \(recorded.rawValue); "
                                + "--encoding \(explicit.rawValue) contradicts it (leave --encoding out)")
            }
            codec = NDJSONCodec(recorded)
            return
        }
        codec = NDJSONCodec(explicit)
    }

    /// The next pair, or `nil` at the end; a bad line throws, naming it (exit status 65).
    mutating func next() throws -> (key: [UInt8], value: [UInt8])? {
        while true {
            let line: [UInt8], at: Int
            if let first = pending {
                (line, at) = first
                pending = nil
            } else {
                guard let next = try input.nextLine() else { return nil }
                number += 1
                (line, at) = (next, number)
            }
            if Self.isBlank(line) { continue }
            let pair: (key: [UInt8], value: [UInt8])
            do { pair = try codec.parse(line) } catch {
                throw ToolError(ExitStatus.dataError, "\(input.name):\(at): \(error.message)")
            }
            guard !pair.key.isEmpty, pair.key.count <= Store.maximumKeyLength, pair.value.count <= Store.maximumValueLength else {
                throw ToolError(ExitStatus.dataError, "\(input.name):\(at): the key must be 1 to \(Store.maximumKeyLength) bytes and the value at most \(Store.maximumValueLength)")
            }
            return pair
        }
    }

    private static func isBlank(_ line: [UInt8]) -> Bool { line.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
}
