/// The YCSB core workloads' inner loop (A, B, C, D, F): each operation is drawn from the mix, its key from the
/// workload's request distribution over the loaded records (`--num`) and, for D, the records inserted since. The
/// zipfian workloads (A, B, C, F) lay their popular keys out as `--zipfian` says (`context.zipfian`).
enum YCSBLoop {
    static func run(mix: YCSBMix, thread: Int, count: Int, session: any EngineSession, context: WorkContext,
                    recorder: inout Recorder, ready: () -> Void) throws {
        let keys = KeyBuffer(size: context.keySize)
        defer { keys.deallocate() }
        var values = ValueCursor(data: context.values, size: context.valueSize)
        var random = SplitMix64(seed: context.seeds.stream(thread))
        let records = UInt64(max(context.num, 1))
        var zipfian = mix.distribution == .zipfian ? ZipfianKeys(context.zipfian, count: records) : nil
        var latest = mix.distribution == .latest ? LatestGenerator(initialCount: records) : nil
        let readBound = mix.read
        let updateBound = readBound + mix.update
        let insertBound = updateBound + mix.insert
        let expected = context.valueSize
        ready()
        let control = context.loop(count: count)
        var n = 0, reads = 0, writes = 0, found = 0, wrongSize = 0
        var checksum: UInt64 = 0

        @inline(__always) func chooseKey() -> UInt64 {
            if latest != nil {
                let inserted = UInt64(max(1, context.acknowledged.load(ordering: .relaxed)))
                return latest!.next(count: inserted, using: &random)
            }
            return zipfian!.next(using: &random)
        }

        @inline(__always) func read(_ kind: OpKind, timed: Bool) throws {
            let length: Int?
            if timed {
                let t0 = monotonicNanos()
                length = try session.get(key: keys.bytes, checksum: &checksum)
                recorder.record(kind, nanos: monotonicNanos() &- t0)
            } else {
                length = try session.get(key: keys.bytes, checksum: &checksum)
            }
            reads += 1
            if let length {
                found += 1
                if length != expected { wrongSize += 1 }
            }
        }

        @inline(__always) func write(_ kind: OpKind, timed: Bool) throws {
            let value = values.next()
            writes += 1
            if timed {
                let t0 = monotonicNanos()
                try session.put(key: keys.bytes, value: value)
                recorder.record(kind, nanos: monotonicNanos() &- t0)
            } else {
                try session.put(key: keys.bytes, value: value)
            }
        }

        while control.shouldContinue(n) {
            let u = random.nextDouble()
            let timed = recorder.shouldTime(n)
            if u < readBound {
                keys.set(chooseKey())
                try read(.read, timed: timed)
            } else if u < updateBound {
                keys.set(chooseKey())
                try write(.update, timed: timed)
            } else if u < insertBound {
                let number = context.nextInsert.wrappingAdd(1, ordering: .relaxed).oldValue
                keys.set(UInt64(number))
                try write(.insert, timed: timed)
                raiseAcknowledged(to: number + 1, context: context)
            } else {
                keys.set(chooseKey())
                let t0 = timed ? monotonicNanos() : 0
                try read(.read, timed: timed)
                try write(.update, timed: timed)
                if timed { recorder.record(.readModifyWrite, nanos: monotonicNanos() &- t0) }
            }
            n += 1
        }
        control.finish(n)
        recorder.ops += n
        recorder.attempted += reads
        recorder.found += found
        recorder.errors += wrongSize
        recorder.checksum &+= checksum
        recorder.bytes += Int64(n) * Int64(context.keySize) + Int64(writes + found) * Int64(expected)
    }

    /// Raises the count of inserted keys to at least `value` (inserts from several threads may finish out of order,
    /// so a reader may rarely pick a key whose insert is still in flight).
    private static func raiseAcknowledged(to value: Int, context: WorkContext) {
        var current = context.acknowledged.load(ordering: .relaxed)
        while current < value {
            let (exchanged, original) = context.acknowledged.compareExchange(
                expected: current, desired: value, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
