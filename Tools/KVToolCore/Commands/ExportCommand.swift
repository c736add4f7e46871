#if canImport(Glibc)
import Glibc
#endif
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
            first key or value that is not valid UTF-8. The first line records the encoding, \
            {"kvtool-export":1,"encoding":"base64"}, so that `kvtool import` reads it back without \
            being told. The output is NDJSON whatever --format says. Changes nothing in the store.
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
        var sink = try output.map { try Self.create($0, replace: force) } ?? OutputBuffer(fd: 1)
        defer {
            sink.flush()
            if sink.fd != 1 { close(sink.fd) }
        }
        let progress = Progress("exporting")
        defer { progress.finish() }
        try StoreAccess.with(path, for: .inspect) { store in
            sink.line(codec.header)
            var cursor = try store.entries()
            while let (key, value) = try cursor.next() {
                guard key.starts(with: prefixBytes) else { continue }
                do throws(NDJSONCodec.Failure) { sink.line(try codec.line(key: key, value: value)) } catch {
                    throw ToolError(ExitStatus.dataError, "\(path): \(error.message)")
                }
                progress.advance()
            }
        }
    }

    /// Opens the output file; refuses an existing one unless `replace`.
    private static func create(_ file: String, replace: Bool) throws -> OutputBuffer {
        let fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC | (replace ? O_TRUNC : O_EXCL), 0o644)
        guard fd >= 0 else {
            let code = errno
            throw ToolError(code == EEXIST ? ExitStatus.cannotCreate : ExitStatus.ioError,
                            "\(file): cannot create: \(String(cString: strerror(code)))" + (code == EEXIST ? " (use --force to replace it)" : ""))
        }
        return OutputBuffer(fd: fd)
    }
}
