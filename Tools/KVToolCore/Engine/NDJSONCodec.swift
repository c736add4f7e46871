/// The lines of `kvtool export` and `kvtool import`: one JSON object per pair,
/// `{"key":"…","value":"…"}`, the bytes written in base64 (the default), hex, or UTF-8 text.
/// Base64 and hex round-trip any bytes; UTF-8 only text, and is refused for anything else.
struct NDJSONCodec {
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
