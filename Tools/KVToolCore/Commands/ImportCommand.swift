import ArgumentParser
import KVStore

/// `kvtool import STORE [FILE]`: load NDJSON pairs, in atomic batches.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load NDJSON lines {\"key\":\"…\",\"value\":\"…\"} (as kvtool export writes them) into a store.",
        discussion: """
            Keys and values are base64 by default (or --encoding hex|utf8, as exported). Pairs are \
            set in batches of --batch-size, each atomic. A file is checked whole before anything is \
            written, so bad input changes nothing (exit status 65, naming the line); from stdin, \
            batches before a bad line stay imported and the message says how many.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Argument(help: "The NDJSON file, or - for stdin.")
    var file = "-"

    @Option(name: .customLong("batch-size"), help: "Pairs per atomic batch.")
    var batchSize = 1000

    @Flag(help: "Create the store if the path is missing or an empty directory.")
    var create = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let path = StoreAccess.normalize(store)
        let codec = NDJSONCodec(output.encoding)
        try StoreAccess.check(path, allowCreate: create, offerCreate: true)
        let input = try InputFile(file)
        if input.isRegularFile {
            try forEachPair(input, codec) { _, _ in }
            try input.rewind()
        }
        var imported = (records: 0, batches: 0)
        let progress = Progress("importing")
        defer { progress.finish() }
        try StoreAccess.with(path, for: create ? .create : .modify) { store in
            var batcher = ImportBatcher(store: store, maxRecords: batchSize)
            do {
                try forEachPair(input, codec) { key, value in
                    try batcher.set(value, forKey: key)
                    progress.advance()
                }
                try batcher.flush()
            } catch let error as ToolError {
                throw ToolError(error.status, error.message + "; \(Format.count(batcher.records)) pairs in \(batcher.batches) batches were imported before it")
            }
            imported = (batcher.records, batcher.batches)
        }
        if output.json {
            Console.out.line(JSON.object([("records", .int(imported.records)), ("batches", .int(imported.batches))]).text)
        } else {
            Console.out.line("imported \(Format.count(imported.records)) pairs in \(imported.batches) batch\(imported.batches == 1 ? "" : "es")")
        }
    }

    /// Calls `body` with every pair of the input; a bad line throws, naming it.
    private func forEachPair(_ input: InputFile, _ codec: NDJSONCodec, _ body: ([UInt8], [UInt8]) throws -> Void) throws {
        var number = 0
        while let line = try input.nextLine() {
            number += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let pair: (key: [UInt8], value: [UInt8])
            do { pair = try codec.parse(line) } catch {
                throw ToolError(ExitStatus.dataError, "\(input.name):\(number): \(error.message)")
            }
            guard !pair.key.isEmpty, pair.key.count <= Store.maximumKeyLength, pair.value.count <= Store.maximumValueLength else {
                throw ToolError(ExitStatus.dataError, "\(input.name):\(number): the key must be 1 to \(Store.maximumKeyLength) bytes and the value at most \(Store.maximumValueLength)")
            }
            try body(pair.key, pair.value)
        }
    }
}
