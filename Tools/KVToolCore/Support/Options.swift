import ArgumentParser

/// `--format`: text for people, JSON for programs.
enum OutputFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case text, json
}

/// The options every command takes.
struct OutputOptions: ParsableArguments {
    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: "How keys and values are shown: auto (printable text as is, anything else as 0x-hex), utf8, hex or base64.")
    var encoding: ByteEncoding?

    /// The rendering asked for, `auto` when none was.
    var rendering: ByteEncoding { encoding ?? .auto }

    var json: Bool { format == .json }
}

/// How keys (and values) given on the command line are to be read.
struct KeyInputOptions: ParsableArguments {
    @Option(name: .customLong("key-encoding"), help: "How KEY arguments and --prefix are written: utf8, hex or base64.")
    var keyEncoding: ByteEncoding = .utf8

    /// The bytes of a key argument.
    func key(_ text: String, what: String = "KEY") throws -> [UInt8] {
        guard let bytes = keyEncoding.parse(text) else {
            throw ToolError(ExitStatus.usage, "\(what) is not valid \(keyEncoding.rawValue): \(text)")
        }
        guard !bytes.isEmpty || what != "KEY" else { throw ToolError(ExitStatus.usage, "keys must not be empty") }
        return bytes
    }
}
