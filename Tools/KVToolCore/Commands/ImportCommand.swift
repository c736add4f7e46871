import ArgumentParser
import KVStore

/// `kvtool import STORE [FILE]`: load NDJSON pairs, in atomic batches.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load NDJSON lines {\"key\":\"…\",\"value\":\"…\"} (as kvtool export writes them) into a store.",
        discussion: """
            Keys and values are decoded as the export's first line says \
            ({"kvtool-export":1,"encoding":"hex"}); an --encoding that contradicts it is refused \
            (exit status 64). A file without that line (from an older kvtool) is read as --encoding \
            says, base64 by default. Pairs are set in batches of --batch-size, each atomic. A file is checked whole before anything is \
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
        try StoreAccess.check(path, allowCreate: create, offerCreate: true)
        let input = try InputFile(file)
        // The header is read before the store is opened, so that a refused one changes nothing,
        // from stdin too.
        var reader = try NDJSONPairReader(input, requested: output.encoding)
        if input.isRegularFile {
            while try reader.next() != nil {}
            try input.rewind()
            reader = try NDJSONPairReader(input, requested: output.encoding)
        }
        var imported = (records: 0, batches: 0)
        let progress = Progress("importing")
        defer { progress.finish() }
        try StoreAccess.with(path, for: create ? .create : .modify) { store in
            var batcher = ImportBatcher(store: store, maxRecords: batchSize)
            do {
                while let pair = try reader.next() {
                    try batcher.set(pair.value, forKey: pair.key)
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
}
