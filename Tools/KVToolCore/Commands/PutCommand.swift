import ArgumentParser
import KVStore

/// `kvtool put STORE KEY VALUE | --value-file F | -`: set one key.
struct PutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Set a key to a value given as an argument, read from a file (--value-file) or from stdin (-).")

    @Argument(help: "The store directory.")
    var store: String

    @Argument(help: "The key.")
    var key: String

    @Argument(help: "The value, or - to read it from stdin.")
    var value: String?

    @Option(name: .customLong("value-file"), help: "Read the value from this file.")
    var valueFile: String?

    @Option(name: .customLong("value-encoding"), help: "How a VALUE argument is written: utf8, hex or base64.")
    var valueEncoding: ByteEncoding = .utf8

    @Flag(help: "Create the store if the path is missing or an empty directory.")
    var create = false

    @OptionGroup var keyInput: KeyInputOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (value == nil) != (valueFile == nil) else {
            throw ValidationError("give the value as an argument, with --value-file, or as - for stdin (exactly one)")
        }
    }

    func run() throws {
        let path = StoreAccess.normalize(store)
        let keyBytes = try keyInput.key(key)
        try StoreAccess.checkKey(keyBytes)
        try StoreAccess.check(path, allowCreate: create, offerCreate: true)
        // Everything that can be refused is checked before the store is opened.
        let bytes: [UInt8]
        if let valueFile {
            bytes = try InputFile(valueFile).readAll()
        } else if value == "-" {
            bytes = try InputFile("-").readAll()
        } else {
            guard let parsed = valueEncoding.parse(value ?? "") else {
                throw ToolError(ExitStatus.usage, "VALUE is not valid \(valueEncoding.rawValue)")
            }
            bytes = parsed
        }
        guard bytes.count <= Store.maximumValueLength else {
            throw ToolError(ExitStatus.usage, "the value is \(bytes.count) bytes long; the limit is \(Store.maximumValueLength)")
        }
        try StoreAccess.with(path, for: create ? .create : .modify) { store in try store.set(bytes, forKey: keyBytes) }
        if output.json {
            Console.out.line(JSON.object([("key", .string(output.rendering.render(keyBytes))), ("valueBytes", .int(bytes.count))]).text)
        }
    }
}
