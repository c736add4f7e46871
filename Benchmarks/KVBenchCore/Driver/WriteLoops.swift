/// The write benchmarks' inner loops.
enum WriteLoops {
    /// Puts `count` keys from `order`, starting at position `start` and wrapping around (fillseq, fillrandom,
    /// overwrite, fillsync).
    static func put(order: [UInt32], start: Int, count: Int, session: any EngineSession, context: WorkContext,
                    recorder: inout Recorder, update: Bool = false, ready: () -> Void) throws {
        let keys = KeyBuffer(size: context.keySize)
        defer { keys.deallocate() }
        var values = ValueCursor(data: context.values, size: context.valueSize)
        ready()
        let control = context.loop(count: count)
        var n = 0
        var bytes = 0
        try order.withUnsafeBufferPointer { order in
            var position = order.isEmpty ? 0 : start % order.count
            let dataset = context.dataset
            while control.shouldContinue(n) {
                let key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
                if let dataset {
                    key = dataset.key(Int(order[position]))
                    value = dataset.value(Int(order[position]))
                    bytes += key.count + value.count
                } else {
                    keys.set(UInt64(order[position]))
                    key = keys.bytes
                    value = values.next()
                }
                if recorder.shouldTime(n) {
                    let t0 = monotonicNanos()
                    if update { try session.update(key: key, value: value) } else { try session.put(key: key, value: value) }
                    recorder.record(update ? .update : .put, nanos: monotonicNanos() &- t0)
                } else if update {
                    try session.update(key: key, value: value)
                } else {
                    try session.put(key: key, value: value)
                }
                n += 1
                position += 1
                if position == order.count { position = 0 }
            }
        }
        control.finish(n)
        recorder.ops += n
        recorder.bytes += context.dataset == nil ? Int64(n) * Int64(context.keySize + context.valueSize) : Int64(bytes)
    }

    /// Removes `count` keys from `order` (deleterandom); `found` counts keys that were present.
    static func delete(order: [UInt32], start: Int, count: Int, session: any EngineSession, context: WorkContext,
                       recorder: inout Recorder, ready: () -> Void) throws {
        let keys = KeyBuffer(size: context.keySize)
        defer { keys.deallocate() }
        ready()
        let control = context.loop(count: count)
        var n = 0, found = 0
        try order.withUnsafeBufferPointer { order in
            var position = order.isEmpty ? 0 : start % order.count
            while control.shouldContinue(n) {
                keys.set(UInt64(order[position]))
                let removed: Bool
                if recorder.shouldTime(n) {
                    let t0 = monotonicNanos()
                    removed = try session.delete(key: keys.bytes)
                    recorder.record(.delete, nanos: monotonicNanos() &- t0)
                } else {
                    removed = try session.delete(key: keys.bytes)
                }
                if removed { found += 1 }
                n += 1
                position += 1
                if position == order.count { position = 0 }
            }
        }
        control.finish(n)
        recorder.ops += n
        recorder.found += found
        recorder.attempted += n
        recorder.bytes += Int64(n) * Int64(context.keySize)
    }

    /// readwhilewriting's writer: overwrites uniformly random keys until every reader has finished.
    static func background(thread: Int, session: any EngineSession, context: WorkContext, recorder: inout Recorder,
                           ready: () -> Void) throws {
        let keys = KeyBuffer(size: context.keySize)
        defer { keys.deallocate() }
        var values = ValueCursor(data: context.values, size: context.valueSize)
        var random = SplitMix64(seed: context.seeds.stream(thread))
        let space = UInt64(max(context.num, 1))
        ready()
        var n = 0
        while context.remainingReaders.load(ordering: .relaxed) > 0 {
            keys.set(random.next(below: space))
            let value = values.next()
            if recorder.shouldTime(n) {
                let t0 = monotonicNanos()
                try session.put(key: keys.bytes, value: value)
                recorder.record(.backgroundPut, nanos: monotonicNanos() &- t0)
            } else {
                try session.put(key: keys.bytes, value: value)
            }
            n += 1
        }
        recorder.backgroundOps += n
    }
}
