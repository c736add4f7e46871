import Histogram

/// fillsync through the async API: many Swift tasks, few threads.
extension EngineRun {
    /// `count` puts from `writers` concurrent tasks in `.sync` durability; the note gives the
    /// writes per fdatasync, and how many OS threads ran the writes beside the store's sync thread.
    func measureAsyncFillSync(count: Int, writers: Int) throws -> Outcome {
        let store = try ensureOpen(durability: .sync)
        let keys = order(seeds.fill)
        let keyBuffer = KeyBuffer(size: config.keySize)
        defer { keyBuffer.deallocate() }
        var cursor = ValueCursor(data: values, size: config.valueSize)
        var keyBytes: [[UInt8]] = [], valueBytes: [[UInt8]] = []
        for i in 0..<count {
            keyBuffer.set(UInt64(keys[i % keys.count]))
            keyBytes.append(Array(keyBuffer.bytes))
            valueBytes.append(Array(cursor.next()))
        }
        let syncsBefore = try store.syncCount()
        let before = ProcessSnapshot.now()
        let t0 = monotonicNanos()
        guard let threads = try store.putConcurrently(keys: keyBytes, values: valueBytes, writers: writers) else {
            return .skipped("N/A: \(name) has no async API")
        }
        let elapsed = monotonicNanos() &- t0
        var tally = Tally(ops: count)
        var histogram = Recorder.makeHistogram()
        histogram.record(max(elapsed / UInt64(max(count, 1)), 1))
        tally.latencies[.put] = histogram
        var result = try makeResult(Benchmark.fillsync.rawValue, threads: writers, seconds: Double(elapsed) / 1e9, tally: tally,
                                    before: before)
        result.found = nil
        result.attempted = nil
        var notes = ["\(writers) async writers (tasks) ran on \(threads) threads, syncs on the store's one sync thread"]
        if let before = syncsBefore, let after = try store.syncCount(), after > before {
            result.writesPerSync = Double(count) / Double(after - before)
            notes.append("\(after - before) sync rounds: " + Format.fixed(result.writesPerSync!, 2) + " writes per fdatasync")
        }
        result.note = notes.joined(separator: "; ")
        return .result(result)
    }
}
