import Histogram

/// The store-specific benchmarks: open after a clean close, reopen after a kill, rebuild of the index.
extension EngineRun {
    /// Opens after a clean close, 5 times (files warmed before each); ops = opens, micros/op = mean open time.
    func measureOpen() throws -> BenchResult {
        let repetitions = 5
        try ensureOpen()
        let keys = try store?.keyCount()
        var histogram = Recorder.makeHistogram()
        var total: UInt64 = 0
        let before = ProcessSnapshot.now()
        var closing: UInt64 = 0
        for _ in 0..<repetitions {
            let c0 = monotonicNanos()
            try closeStore()
            closing += monotonicNanos() &- c0
            PageCache.warm(FileSystem.regularFiles(under: directory))
            let t0 = monotonicNanos()
            try ensureOpen()
            let elapsed = monotonicNanos() &- t0
            total += elapsed
            histogram.record(max(elapsed, 1))
        }
        var tally = Tally(ops: repetitions)
        tally.latencies[.open] = histogram
        return try makeResult("open", threads: 1, seconds: Double(total) / 1e9, tally: tally, before: before,
                              note: (keys.map { "\($0) keys; " } ?? "") + "close \(Self.milliseconds(closing / UInt64(repetitions))) (untimed)")
    }

    /// `nanos` as milliseconds with one decimal, for notes.
    static func milliseconds(_ nanos: UInt64) -> String {
        let tenths = (nanos + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    /// Closes, warms the data files and times the engine's index rebuild (for kvstore, `Store.rebuildIndex`: an open
    /// that rebuilds the index under the store's lock, then a clean close); ops = keys, so ops/sec is keys per
    /// second. The store is open again afterwards (untimed), as after every other benchmark.
    func measureRebuild() throws -> Outcome {
        try ensureOpen()
        let keys = try store?.keyCount()
        try closeStore()
        guard let rebuild = engine.indexRebuild(in: directory, options: config.engineOptions()) else {
            return .skipped("N/A: \(name) has no separate index to rebuild")
        }
        PageCache.warm(Self.rebuildInputs(FileSystem.regularFiles(under: directory)))
        let before = ProcessSnapshot.now()
        let t0 = monotonicNanos()
        try rebuild()
        let elapsed = monotonicNanos() &- t0
        var histogram = Recorder.makeHistogram()
        histogram.record(max(elapsed, 1))
        var tally = Tally(ops: keys ?? 0)
        tally.latencies[.open] = histogram
        // Before the reopen, so that the process figures are the rebuild's alone.
        var result = try makeResult("rebuild", threads: 1, seconds: Double(elapsed) / 1e9, tally: tally,
                                    before: before, note: "ops = keys indexed: ops/sec is keys/s")
        try ensureOpen()
        if keys == nil { result.ops = try store?.keyCount() ?? 0 }
        result.indexBytesPerKey = try store?.indexBytesPerKey()
        return .result(result)
    }

    /// What a rebuild reads, warmed before it is timed: the hint files, the segments without one
    /// (the newest, active one among them), and `STORE`. Not the old index (it is replaced unread)
    /// nor the segments that have a hint (read only where keys' hashes match): at 100 M keys those
    /// are 24 GB, more than the page cache holds, and warming them evicted the hints the rebuild
    /// reads next.
    static func rebuildInputs(_ files: [String]) -> [String] {
        let names = Set(files.map { $0.split(separator: "/").last.map(String.init) ?? $0 })
        let newest = files.filter { $0.hasSuffix(".seg") }.max()
        return files.filter { path in
            let name = path.split(separator: "/").last.map(String.init) ?? path
            if name.hasSuffix(".hint") || name == "STORE" || path == newest { return true }
            if name.hasSuffix(".seg") { return !names.contains(String(name.dropLast(4)) + ".hint") }
            return false
        }
    }

    /// A child kvbench writes `--num` keys (fillrandom order) into a new store and reports it is done; it is then
    /// killed with SIGKILL and the reopen is timed. Afterwards (untimed) every key is looked up:
    /// "(N of N found)" tells how many acknowledged writes survived.
    func measureRecover() throws -> BenchResult {
        try closeStore()
        try FileSystem.removeTree(directory)
        try FileSystem.makeDirectories(directory)
        nextInsert = config.num
        let child = try ChildProcess(executable: try childExecutable(), arguments: RecoverChild.arguments(
            engine: name, directory: directory, config: config))
        try child.waitForLine(RecoverChild.readyLine)
        child.killNow()

        let before = ProcessSnapshot.now()
        let t0 = monotonicNanos()
        let store = try ensureOpen()
        let elapsed = monotonicNanos() &- t0

        var found = 0, checksum: UInt64 = 0
        let session = try store.makeSession()
        let keys = KeyBuffer(size: config.keySize)
        defer { keys.deallocate() }
        for number in order(seeds.fill) {
            keys.set(UInt64(number))
            if try session.get(key: keys.bytes, checksum: &checksum) != nil { found += 1 }
        }
        try session.finish()

        var histogram = Recorder.makeHistogram()
        histogram.record(max(elapsed, 1))
        var tally = Tally(ops: 1, found: found, attempted: config.num)
        tally.latencies[.open] = histogram
        return try makeResult("recover", threads: 1, seconds: Double(elapsed) / 1e9, tally: tally, before: before,
                              note: "reopen after SIGKILL; found = acknowledged writes present")
    }
}
