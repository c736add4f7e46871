/// The read benchmarks' inner loops.
enum ReadLoops {
    /// Gets `count` keys from `order`, starting at `start` and wrapping (readrandom); with `missing`, each key's
    /// last digit is replaced by "." so that none exists (readmissing).
    static func get(order: [UInt32], start: Int, count: Int, missing: Bool, session: any EngineSession,
                    context: WorkContext, recorder: inout Recorder, ready: () -> Void) throws {
        let keys = KeyBuffer(size: context.keySize)
        defer { keys.deallocate() }
        let expected = context.valueSize
        ready()
        let control = context.loop(count: count)
        var n = 0, found = 0, wrongSize = 0
        var checksum: UInt64 = 0
        var valueBytes = 0
        let dataset = missing ? nil : context.dataset
        try order.withUnsafeBufferPointer { order in
            var position = order.isEmpty ? 0 : start % order.count
            while control.shouldContinue(n) {
                let key: UnsafeRawBufferPointer
                var expected = expected
                if let dataset {
                    key = dataset.key(Int(order[position]))
                    expected = dataset.value(Int(order[position])).count
                } else {
                    if missing { keys.setMissing(UInt64(order[position])) } else { keys.set(UInt64(order[position])) }
                    key = keys.bytes
                }
                let length: Int?
                if recorder.shouldTime(n) {
                    let t0 = monotonicNanos()
                    length = try session.get(key: key, checksum: &checksum)
                    recorder.record(.get, nanos: monotonicNanos() &- t0)
                } else {
                    length = try session.get(key: key, checksum: &checksum)
                }
                if let length {
                    found += 1
                    valueBytes += length
                    if length != expected { wrongSize += 1 }
                }
                n += 1
                position += 1
                if position == order.count { position = 0 }
            }
        }
        control.finish(n)
        recorder.ops += n
        recorder.attempted += n
        recorder.found += found
        recorder.errors += wrongSize
        recorder.checksum &+= checksum
        recorder.bytes += dataset == nil ? Int64(n) * Int64(context.keySize) + Int64(found) * Int64(expected) : Int64(valueBytes)
    }

    /// Gets `count` uniformly random keys among the first 1% of the key space (db_bench's readhot).
    static func hot(thread: Int, count: Int, session: any EngineSession, context: WorkContext,
                    recorder: inout Recorder, ready: () -> Void) throws {
        let keys = KeyBuffer(size: context.keySize)
        defer { keys.deallocate() }
        var random = SplitMix64(seed: context.seeds.stream(thread))
        let range = UInt64(max(1, (context.num + 99) / 100))
        let expected = context.valueSize
        ready()
        let control = context.loop(count: count)
        var n = 0, found = 0, wrongSize = 0
        var checksum: UInt64 = 0
        while control.shouldContinue(n) {
            keys.set(random.next(below: range))
            let length: Int?
            if recorder.shouldTime(n) {
                let t0 = monotonicNanos()
                length = try session.get(key: keys.bytes, checksum: &checksum)
                recorder.record(.get, nanos: monotonicNanos() &- t0)
            } else {
                length = try session.get(key: keys.bytes, checksum: &checksum)
            }
            if let length {
                found += 1
                if length != expected { wrongSize += 1 }
            }
            n += 1
        }
        control.finish(n)
        recorder.ops += n
        recorder.attempted += n
        recorder.found += found
        recorder.errors += wrongSize
        recorder.checksum &+= checksum
        recorder.bytes += Int64(n) * Int64(context.keySize) + Int64(found) * Int64(expected)
    }

    /// Iterates over the whole store once (readseq). The latency of an entry is the time since the previous one.
    static func scan(session: any EngineSession, context: WorkContext, recorder: inout Recorder,
                     ready: () -> Void) throws {
        let expected = context.valueSize
        ready()
        var n = 0, wrongSize = 0
        var bytes: Int64 = 0
        var checksum: UInt64 = 0
        var previous = monotonicNanos()
        var timeNext = recorder.shouldTime(0)
        try session.scan { key, value in
            if timeNext {
                let now = monotonicNanos()
                recorder.record(.scan, nanos: now &- previous)
            }
            if value.count != expected { wrongSize += 1 }
            if let first = value.first, let last = value.last { checksum &+= UInt64(first) &+ UInt64(last) }
            bytes += Int64(key.count + value.count)
            n += 1
            timeNext = recorder.shouldTime(n)
            if timeNext { previous = monotonicNanos() }
            if n & 1023 == 0 { context.progress?.add(1024) }
        }
        context.progress?.add(n & 1023)
        recorder.ops += n
        recorder.found += n
        recorder.errors += wrongSize
        recorder.checksum &+= checksum
        recorder.bytes += bytes
    }
}
