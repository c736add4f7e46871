#if canImport(Glibc)
import Glibc
#endif
import Histogram

/// The online-backup benchmarks: what a backup costs beside copying the files by hand, what an
/// incremental one copies, and what backing up does to writers.
extension EngineRun {
    /// Where the backups go: `--backup-dir` or beside the store.
    var backupParent: String { config.backupDirectory ?? FileSystem.parentDirectory(directory) }
    var backupTarget: String { backupParent + "/" + name + ".backup" }

    /// A full backup timed beside the reference the issue names: `cp --reflink=never` of the
    /// active segment alone on the same file system (sealed segments are linked), `cp -r` of the
    /// whole store across file systems; then `--num`/10 random overwrites and an incremental
    /// backup, whose bytes copied are set against the bytes written. ops = 1 (the full backup).
    func measureBackup() throws -> Outcome {
        let store = try ensureOpen()
        try store.sync()
        try FileSystem.removeTree(backupTarget)
        let acrossFileSystems = Self.device(of: backupParent) != Self.device(of: directory)
        // The reference, measured first, three times (the median).
        let segments = FileSystem.regularFiles(under: directory).filter { $0.hasSuffix(".seg") }.sorted()
        guard let active = segments.last else { return .skipped("N/A: no segment") }
        let reference = backupParent + "/.\(name).cp-reference"
        var referenceTimes: [UInt64] = []
        let referenceBytes: Int64
        if acrossFileSystems {
            referenceBytes = FileSystem.regularFiles(under: directory).reduce(0) { $0 + (FileSystem.size(of: $1) ?? 0) }
            for _ in 0..<3 {
                try FileSystem.removeTree(reference)
                // The store's sealer may still rename a hint file into place, which cp -r can trip over.
                var attempt = 0
                while true {
                    attempt += 1
                    try FileSystem.removeTree(reference)
                    do {
                        referenceTimes.append(try Self.timedCommand(["cp", "-r", "--reflink=never", directory, reference]))
                        break
                    } catch where attempt < 5 { usleep(100_000) }
                }
            }
        } else {
            referenceBytes = FileSystem.size(of: active) ?? 0
            for _ in 0..<3 {
                try FileSystem.removeTree(reference)
                referenceTimes.append(try Self.timedCommand(["cp", "--reflink=never", active, reference]))
            }
        }
        try FileSystem.removeTree(reference)
        let referenceNanos = referenceTimes.sorted()[1]

        let before = ProcessSnapshot.now()
        let t0 = monotonicNanos()
        guard let full = try store.backup(to: backupTarget) else {
            return .skipped("N/A: \(name) has no online backup")
        }
        let elapsed = monotonicNanos() &- t0
        // cp syncs nothing and a backup syncs everything: the same copy followed by fdatasync too
        // (after the backup: its writeback would otherwise still be under way during it).
        var syncedTimes: [UInt64] = []
        if !acrossFileSystems {
            for _ in 0..<3 {
                try FileSystem.removeTree(reference)
                syncedTimes.append(try Self.timedCommand(["dd", "if=" + active, "of=" + reference, "bs=1M", "conv=fdatasync", "status=none"]))
            }
            try FileSystem.removeTree(reference)
        }
        let syncedNanos = syncedTimes.isEmpty ? 0 : syncedTimes.sorted()[1]
        let storeBytes = FileSystem.regularFiles(under: backupTarget).reduce(Int64(0)) { $0 + (FileSystem.size(of: $1) ?? 0) }

        // The incremental one: overwrite a tenth of the keys, then back up into the same directory.
        let overwrites = max(1, config.num / 10)
        let keys = order(seeds.overwrite)
        let session = try store.makeSession()
        let keyBuffer = KeyBuffer(size: config.keySize)
        defer { keyBuffer.deallocate() }
        var valueCursor = ValueCursor(data: values, size: config.valueSize)
        var written: Int64 = 0
        for i in 0..<overwrites {
            keyBuffer.set(UInt64(keys[i % keys.count]))
            let value = valueCursor.next()
            try session.put(key: keyBuffer.bytes, value: value)
            written += Int64((32 + keyBuffer.bytes.count + value.count + 7) & ~7)
        }
        try session.finish()
        try store.sync()
        let t1 = monotonicNanos()
        let incremental = try store.backup(to: backupTarget)
        let incrementalNanos = monotonicNanos() &- t1

        var histogram = Recorder.makeHistogram()
        histogram.record(max(elapsed, 1))
        var tally = Tally(ops: 1)
        tally.bytes = storeBytes
        tally.latencies[.backup] = histogram
        let ratio = Double(elapsed) / Double(max(referenceNanos, 1))
        var parts: [String] = []
        parts.append("full: " + Self.ms(elapsed) + " for " + Format.bytes(storeBytes) + " (\(full.filesLinked) linked, \(full.filesCopied) copied, "
                     + Format.bytes(full.bytesCopied) + "; index " + full.index + "; writers held " + Self.ms(full.writersHeldNanos) + ")")
        if acrossFileSystems {
            let ours = Double(full.bytesCopied) / Double(max(elapsed, 1))
            let theirs = Double(referenceBytes) / Double(max(referenceNanos, 1))
            parts.append("cp -r: " + Self.ms(referenceNanos) + " for " + Format.bytes(referenceBytes) + ": throughput "
                         + Format.fixed(ours / theirs, 2) + "x cp -r's")
        } else {
            parts.append("cp of the active segment (" + Format.bytes(referenceBytes) + "): " + Self.ms(referenceNanos) + ": backup = "
                         + Format.fixed(ratio, 2) + "x cp; the same copy synced (dd conv=fdatasync): " + Self.ms(syncedNanos) + ": backup = "
                         + Format.fixed(Double(elapsed) / Double(max(syncedNanos, 1)), 2) + "x")
        }
        if let incremental {
            let share = Double(incremental.bytesCopied) / Double(max(written, 1))
            parts.append("incremental after \(overwrites) overwrites (" + Format.bytes(written) + " written): " + Self.ms(incrementalNanos)
                         + ", copied " + Format.bytes(incremental.bytesCopied) + " = " + Format.fixed(share, 2) + "x the bytes written ("
                         + "\(incremental.filesLinked) linked, \(incremental.filesKept) kept; index " + incremental.index + ")")
        }
        let note = parts.joined(separator: "; ")
        return .result(try makeResult("backup", threads: 1, seconds: Double(elapsed) / 1e9, tally: tally, before: before, note: note))
    }

    /// fillrandom on `--threads` threads while one more thread backs the store up into the same
    /// directory again and again (incremental after the first) until the writers are done.
    func measureFillWhileBackingUp() throws -> Outcome {
        let store = try ensureOpen()
        try FileSystem.removeTree(backupTarget)
        guard try store.backup(to: backupTarget) != nil else { return .skipped("N/A: \(name) has no online backup") }
        let writers = config.threads
        let count = config.num
        let keys = order(seeds.fill)
        let target = backupTarget
        var result = try measure(.fillwhilebackingup, operations: count, threads: writers + 1, measuredThreads: writers, syncAtEnd: true,
                                 prepare: { $0.remainingReaders.store(writers, ordering: .relaxed) }) {
            index, session, context, recorder, ready in
            if index == writers {
                ready()
                while context.remainingReaders.load(ordering: .relaxed) > 0 {
                    let t0 = monotonicNanos()
                    _ = try context.store.backup(to: target)
                    recorder.record(.backup, nanos: max(monotonicNanos() &- t0, 1))
                }
            } else {
                defer { context.remainingReaders.wrappingSubtract(1, ordering: .relaxed) }
                let part = share(of: count, thread: index, threads: writers)
                try WriteLoops.put(order: keys, start: part.start, count: part.count, session: session,
                                   context: context, recorder: &recorder, ready: ready)
            }
        }
        result.found = nil
        result.attempted = nil
        if let backups = result.latencyByOperation.first(where: { $0.operation == OpKind.backup.label }) {
            result.note = "\(backups.count) backups ran beside the writers (compare ops/sec with fillrandom's)"
        }
        return .result(result)
    }

    static func ms(_ nanos: UInt64) -> String { Format.fixed(Double(nanos) / 1e6, 2) + " ms" }

    static func device(of path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_dev)
    }

    /// Runs a command (found on PATH) and returns how long it took; throws when it fails.
    static func timedCommand(_ argv: [String]) throws -> UInt64 {
        var pid = pid_t()
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        let t0 = monotonicNanos()
        let status = posix_spawnp(&pid, argv[0], nil, nil, &cArgs, environ)
        guard status == 0 else { throw BenchError.system("posix_spawnp", argv[0], errno: status) }
        var exitStatus: Int32 = 0
        while waitpid(pid, &exitStatus, 0) < 0 && errno == EINTR {}
        let elapsed = monotonicNanos() &- t0
        guard exitStatus == 0 else { throw BenchError.system(argv.joined(separator: " "), argv.last ?? "", errno: 0) }
        return elapsed
    }
}
