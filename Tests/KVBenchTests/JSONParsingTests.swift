import KVBenchCore
import Testing

@Suite("JSON parsing")
struct JSONParsingTests {
    @Test("what is rendered parses back the same")
    func roundTrip() throws {
        let value = JSONValue.object([
            ("s", .string("a\"b\\c\n\u{1}é😀")),
            ("a", .array([.int(-12), .double(0.5), .null, .bool(true), .bool(false)])),
            ("o", .object([("empty", .object([])), ("list", .array([]))])),
            ("big", .int(Int.max)), ("d", .double(-2.25)),
        ])
        #expect(try JSONValue.parse(value.rendered()) == value)
        #expect(try JSONValue.parse(value.rendered(indent: 2)) == value)
        #expect(try JSONValue.parse(#" {"x": 1e3, "u": "\u00e9\ud83d\ude00"} "#)
            == .object([("x", .double(1000)), ("u", .string("é😀"))]))
    }

    @Test("what is not JSON is refused", arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"open", "1 2", "{'a':1}"])
    func refused(text: String) {
        #expect(throws: BenchError.self) { try JSONValue.parse(text) }
    }
}
