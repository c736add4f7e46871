import ArgumentParser
import KVStore

/// `kvtool get STORE KEY`: one value.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print the value of a key (exit status 1 when there is none).",
        discussion: """
            Without --encoding, the value's bytes are written as they are when stdout is not a \
            terminal (so `kvtool get s k > file` copies it exactly), and rendered with `auto` and \
            a newline when it is. With --encoding or --format json, the value is rendered.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Argument(help: "The key.")
    var key: String

    @OptionGroup var keyInput: KeyInputOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let path = StoreAccess.normalize(store)
        let keyBytes = try keyInput.key(key)
        try StoreAccess.checkKey(keyBytes)
        let value = try StoreAccess.with(path, for: .inspect) { store in try store.value(forKey: keyBytes) }
        guard let value else {
            throw ToolError(ExitStatus.negative, "\(path): no such key: \(output.rendering.render(keyBytes))")
        }
        if output.json {
            Console.out.line(JSON.object([("key", .string(output.rendering.render(keyBytes))),
                                          ("value", .string(output.rendering.render(value)))]).text)
        } else if output.encoding == nil && !Console.stdoutIsTerminal {
            Console.out.write(bytes: value)
        } else {
            Console.out.line(output.rendering.render(value))
        }
    }
}
