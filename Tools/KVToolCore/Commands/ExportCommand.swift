import ArgumentParser
import KVStore

/// `kvtool export STORE [-o FILE]`: every live pair as NDJSON.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every live key and value as NDJSON: a header line, then {\"key\":\"…\",\"value\":\"…\"} per line.",
        discussion: """
            Keys and values are base64 by default (--encoding auto means base64 here); --encoding hex \
            also round-trips any bytes; --encoding utf8 writes text and fails (exit status 65) at the \
            first key or value that is not valid UTF-8. With -o, the file appears only once the export \
            is complete and on disk: a failed export leaves no file. The first line records the encoding, \
            {"kvtool-export":1,"encoding":"base64"}, so that `kvtool import` reads it back without \
            being told. The output is NDJSON whatever --format says. Changes nothing in the store, and \
            works while another process has it open for writing (a note on stderr names it): every \
            pair it leaves alone is exported once; one it writes, removes or compacts during the \
            export may be missed or exported twice.
            """)

    @Argument(help: "The store directory.")
    var store: String

    @Option(name: [.short, .long], help: "Write to this file instead of stdout.")
    var output: String?

    @Flag(help: "Replace the --output file if it exists.")
    var force = false

    @Option(help: "Only keys that start with these bytes.")
    var prefix: String?

    @OptionGroup var keyInput: KeyInputOptions
    @OptionGroup var options: OutputOptions

    func run() throws {
        let path = StoreAccess.normalize(store)
        let codec = NDJSONCodec(options.encoding)
        let prefixBytes = try prefix.map { try keyInput.key($0, what: "--prefix") } ?? []
        try StoreAccess.check(path)
        let file = try output.map { try AtomicOutputFile($0, replace: force) }
        var sink = file.map { OutputBuffer(fd: $0.fd) } ?? OutputBuffer(fd: 1)
        let progress = Progress("exporting")
        defer { progress.finish() }
        do {
            try StoreAccess.with(path, for: .inspect) { store in
                try LiveAccess(store, path: path).noteIfWriting(path, LiveAccess.cursorCaveat("export"))
                sink.line(codec.header)
                var exported = 0
                var cursor = try store.entries()
                while true {
                    let pair: (key: [UInt8], value: [UInt8])
                    do {
                        guard let next = try cursor.next() else { break }
                        pair = next
                    } catch let error as KVError where error.code == .corruption {
                        throw StoreAccess.stoppedAtDamage(error, store: path, after: exported)
                    }
                    guard pair.key.starts(with: prefixBytes) else { continue }
                    do throws(NDJSONCodec.Failure) { sink.line(try codec.line(key: pair.key, value: pair.value)) } catch {
                        throw ToolError(ExitStatus.dataError, "\(path): \(error.message)")
                    }
                    exported += 1
                    progress.advance()
                }
            }
            if let file { try file.commit(&sink) } else { sink.flush() }
        } catch {
            file?.abandon()
            if file == nil { sink.flush() }
            throw error
        }
    }
}
