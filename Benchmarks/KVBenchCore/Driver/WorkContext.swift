import Synchronization

/// What the threads of one benchmark share: the store, the sizes, the value bytes, and the few counters that
/// threads coordinate through.
final class WorkContext: Sendable {
    let store: any EngineStore
    let keySize: Int
    let valueSize: Int
    /// `--num`: the size of the loaded key space.
    let num: Int
    let values: ValueData
    /// `--dataset`: keys and values from a file (key number n is its n-th line); nil: generated.
    let dataset: Dataset?
    /// Time every operation (small runs) rather than a 1/16 sample.
    let timeAll: Bool
    /// `--duration` in nanoseconds (0: run the fixed operation count).
    let durationNanos: UInt64
    let progress: Progress?
    let seeds: OrderSeeds
    /// Threads that share the measured operations.
    let threadsHint: Int
    /// `--zipfian`: the YCSB workloads' zipfian key choice.
    let zipfian: ZipfianOrder
    /// readwhilewriting: readers still running; the writer stops at 0.
    let remainingReaders = Atomic<Int>(0)
    /// Set to end every loop early, at its next check (`LoopControl`): a background reader process is told to stop.
    let stopped = Atomic<Bool>(false)
    /// YCSB D: the next key number to insert, and how many keys are known to be inserted.
    let nextInsert = Atomic<Int>(0)
    let acknowledged = Atomic<Int>(0)

    init(store: any EngineStore, keySize: Int, valueSize: Int, num: Int, values: ValueData, timeAll: Bool,
         durationNanos: UInt64, progress: Progress?, seeds: OrderSeeds, threadsHint: Int, zipfian: ZipfianOrder,
         dataset: Dataset? = nil) {
        self.dataset = dataset
        self.store = store
        self.keySize = keySize
        self.valueSize = valueSize
        self.num = num
        self.values = values
        self.timeAll = timeAll
        self.durationNanos = durationNanos
        self.progress = progress
        self.seeds = seeds
        self.threadsHint = threadsHint
        self.zipfian = zipfian
    }

    /// The loop control for one thread doing `count` operations (or running until the deadline), started now.
    func loop(count: Int) -> LoopControl {
        LoopControl(limit: durationNanos > 0 ? Int.max : count,
                    deadline: durationNanos > 0 ? monotonicNanos() + durationNanos : 0,
                    progress: progress, context: self)
    }
}

/// When a thread's loop ends: after a fixed count, at the deadline, or once the context is `stopped` (both checked
/// every 1024 operations, when progress is also reported).
struct LoopControl {
    let limit: Int
    let deadline: UInt64
    let progress: Progress?
    let context: WorkContext

    /// Whether operation number `n` (0-based) should run.
    @inline(__always)
    func shouldContinue(_ n: Int) -> Bool {
        if n & 1023 == 0 && n > 0 {
            progress?.add(1024)
            if deadline != 0 && monotonicNanos() >= deadline { return false }
            if context.stopped.load(ordering: .relaxed) { return false }
        }
        return n < limit
    }

    /// Reports the operations not yet reported to the progress line.
    func finish(_ n: Int) {
        progress?.add(n & 1023)
    }
}

/// The share of `total` operations of thread `index` out of `threads`: a contiguous slice, so fillseq stays
/// sequential within each thread.
func share(of total: Int, thread index: Int, threads: Int) -> (start: Int, count: Int) {
    let base = total / threads, extra = total % threads
    let start = index * base + min(index, extra)
    return (start, base + (index < extra ? 1 : 0))
}
