import ArgumentParser
import KVStore

/// `kvtool scan STORE [--prefix P] [--limit N] [--keys-only] [--count]`.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "List live keys and values, in no particular order (the index is a hash table).",
        discussion: """
            Text: one `key<TAB>value` line per pair (`key` with --keys-only). JSON: one object per \
            line. --count prints only the number of matching keys. Works while another process has \
            the store open for writing (a note on stderr names it): every pair it leaves alone is \
            listed once; one it writes, removes or compacts during the scan may be missed or listed twice.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Option(help: "Only keys that start with these bytes.")
    var prefix: String?

    @Option(help: "Stop after N keys.")
    var limit: Int?

    @Flag(name: .customLong("keys-only"), help: "Print keys without values.")
    var keysOnly = false

    @Flag(help: "Print only the number of matching keys.")
    var count = false

    @OptionGroup var keyInput: KeyInputOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        let path = StoreAccess.normalize(store)
        let prefixBytes = try prefix.map { try keyInput.key($0, what: "--prefix") } ?? []
        let rendering = output.rendering
        let matched = try StoreAccess.with(path, for: .inspect) { store -> Int in
            try LiveAccess(store, path: path).noteIfWriting(path, LiveAccess.cursorCaveat("scan"))
            var matched = 0
            let wantValues = !keysOnly && !count
            var keyCursor = wantValues ? nil : try store.keys()
            var entryCursor = wantValues ? try store.entries() : nil
            while limit.map({ matched < $0 }) ?? true {
                let key: [UInt8], value: [UInt8]?
                do {
                    if wantValues {
                        guard let pair = try entryCursor!.next() else { break }
                        (key, value) = (pair.key, pair.value)
                    } else {
                        guard let k = try keyCursor!.next() else { break }
                        (key, value) = (k, nil)
                    }
                } catch let error as KVError where error.code == .corruption {
                    throw StoreAccess.stoppedAtDamage(error, store: path, after: matched)
                }
                guard key.starts(with: prefixBytes) else { continue }
                matched += 1
                if count { continue }
                if output.json {
                    var fields: [(String, JSON)] = [("key", .string(rendering.render(key)))]
                    if let value { fields.append(("value", .string(rendering.render(value)))) }
                    Console.out.line(JSON.object(fields).text)
                } else if let value {
                    Console.out.line(rendering.render(key) + "\t" + rendering.render(value))
                } else {
                    Console.out.line(rendering.render(key))
                }
            }
            return matched
        }
        if count {
            Console.out.line(output.json ? JSON.object([("count", .int(matched))]).text : String(matched))
        }
    }
}
