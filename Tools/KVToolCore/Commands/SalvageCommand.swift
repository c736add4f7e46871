import ArgumentParser
import KVStore

/// `kvtool salvage STORE --output DIR`: copy what still checks out into a new store.
struct SalvageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "salvage",
        abstract: "Copy every record that still checks out from a damaged store into a new store.",
        discussion: """
            Reads every segment file (including \(Store.toolingFileNames.setAsidePattern) files set aside by recovery) record by \
            record, resynchronizing after damage. For each key the record with the highest sequence \
            wins; a key whose newest record is a delete stays deleted. Members of a batch that was \
            never committed are not copied. The damaged store is only read, with its lock held \
            (exit status 75 while another process has it open for writing). Reports what was lost; \
            exit status 0 once the new store is written.
            """)

    @Argument(help: "The damaged store directory.")
    var store: String

    @Option(name: [.customShort("o"), .customLong("output")], help: "The new store's directory: must not exist, or be empty.")
    var outputDirectory: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let source = StoreAccess.normalize(store)
        let target = StoreAccess.normalize(outputDirectory)
        switch Store.toolingPathKind(source) {
        case .missing: throw ToolError(ExitStatus.noInput, "\(source): no such store")
        case .file, .other: throw ToolError(ExitStatus.noInput, "\(source): not a store (not a directory)")
        case .directory: break
        }
        guard source != target else { throw ToolError(ExitStatus.usage, "--output must be a new directory, not the store itself") }
        // Compared resolved: `./S`, `S/.`, `S/x/..` or a link to S name the store too, and a new store
        // inside the damaged one would be read as its stray files, or deleted with it.
        if let realSource = StoreAccess.resolvedPath(source), let realTarget = StoreAccess.resolvedPath(target) {
            if realTarget == realSource {
                throw ToolError(ExitStatus.usage, "--output must be a new directory, not the store itself (\(target) is \(realSource))")
            }
            if realSource == "/" || realTarget.hasPrefix(realSource + "/") {
                throw ToolError(ExitStatus.usage, "--output must not be inside the store's directory (\(target) is \(realTarget), inside \(realSource))")
            }
        }
        switch Store.toolingPathKind(target) {
        case .missing: break
        case .directory:
            let names = try translatingErrors(subject: target) { try Store.toolingListDirectory(target) }
            guard names.isEmpty else { throw ToolError(ExitStatus.cannotCreate, "\(target): already exists and is not empty") }
        case .file, .other:
            throw ToolError(ExitStatus.cannotCreate, "\(target): already exists")
        }
        var manifestProblem: String?
        var storeID: UInt64?
        do {
            storeID = try Store.toolingReadManifest(directory: source).storeID
        } catch where error.code == .incompatibleFormat {
            throw ToolError(error, subject: source)
        } catch {
            manifestProblem = error.message
        }
        var salvager = Salvager(source: source)
        let written = try translatingErrors(subject: source) { () throws -> Int in
            let lock = try ToolingLock(directory: source, create: false)
            defer { lock.release() }
            try salvager.read(storeID: storeID)
            if salvager.files.isEmpty && storeID == nil {
                throw ToolError(ExitStatus.noInput, "\(source): not a KVStore directory (no \(Store.toolingFileNames.manifest) file, no segment files)")
            }
            return try StoreAccess.with(target, for: .create) { newStore in try salvager.write(into: newStore) }
        }
        report(source: source, target: target, salvager: salvager, written: written, manifestProblem: manifestProblem)
    }

    private func report(source: String, target: String, salvager s: Salvager, written: Int, manifestProblem: String?) {
        let lostBytes = s.losses.reduce(0) { $0 + $1.length }
        let stale = s.keysWithNewerDamage
        if output.json {
            Console.out.line(JSON.object([
                ("output", .string(target)), ("keys", .int(written)), ("files", .int(s.files.count)),
                ("records", .int(s.records)), ("deletedKeys", .int(s.deletedKeys)), ("uncommittedRecords", .int(s.uncommitted)),
                ("lostRegions", .int(s.losses.count)), ("lostBytes", .int(lostBytes)), ("keysWithNewerDamage", .int(stale)),
                ("storeFileProblem", manifestProblem.map { .string($0) } ?? .null),
                ("skippedFiles", .array(s.skipped.map { .object([("file", .string($0.file)), ("reason", .string($0.reason))]) })),
                ("losses", .array(s.losses.map { loss in
                    var fields: [(String, JSON)] = [("file", .string(loss.file)), ("offset", .int(loss.offset)),
                                                    ("length", .int(loss.length)), ("reason", .string(loss.reason))]
                    if let key = loss.record?.key, loss.record?.kind != RawRecord.batchKind {
                        fields.append(("key", .string(output.rendering.render(key))))
                    }
                    return .object(fields)
                })),
            ]).text)
            return
        }
        var lines = ["salvaged \(Format.count(written)) key\(written == 1 ? "" : "s") into \(target)",
                     "  read \(s.files.count) segment file\(s.files.count == 1 ? "" : "s"): \(Format.count(s.records)) records checked out",
                     "  \(Format.count(s.deletedKeys)) deleted key\(s.deletedKeys == 1 ? "" : "s") stay deleted"]
        if s.uncommitted > 0 { lines.append("  \(Format.count(s.uncommitted)) records of uncommitted batches not copied (the store ignores them too)") }
        if let manifestProblem { lines.append("  \(Store.toolingFileNames.manifest) file: \(manifestProblem)") }
        for (file, reason) in s.skipped { lines.append("  skipped \(file): \(reason)") }
        if s.losses.isEmpty {
            lines.append("lost: nothing")
        } else {
            lines.append("lost: \(s.losses.count) damaged region\(s.losses.count == 1 ? "" : "s") (\(Format.count(lostBytes)) bytes)")
            for loss in s.losses {
                var line = "  \(loss.file) @\(loss.offset): \(loss.reason) (\(Format.count(loss.length)) bytes)"
                if let r = loss.record, let key = r.key, r.kind != RawRecord.batchKind {
                    line += "; its header names key \(output.rendering.render(key)), sequence \(r.sequence)"
                }
                lines.append(line)
            }
            if stale > 0 {
                lines.append("  \(stale) key\(stale == 1 ? "" : "s") had a newer record among the damage: \(stale == 1 ? "it holds" : "they hold") an older value or none")
            }
        }
        for line in lines { Console.out.line(line) }
    }
}
