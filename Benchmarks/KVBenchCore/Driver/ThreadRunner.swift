#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs benchmark work on OS threads that start together.
///
/// Each thread prepares (opens its session, allocates its buffers), then calls `ready()`; the clock starts when all
/// threads are ready and stops when the last one returns, as db_bench and the peer baseline measure. Each thread
/// reads the clock itself (when released, and when done), since the main thread may not even be scheduled while
/// the workers run on a 2-core machine.
enum ThreadRunner {
    /// Runs `body(index, ready)` on `count` threads and returns the monotonic start and end times in nanoseconds.
    /// The first error a thread throws is rethrown after all threads have ended. `release` runs on the calling thread
    /// once every thread is ready (or has failed) and before it lets them go: a reader process uses it to say it is ready
    /// and wait for its parent's start signal, a parent to start its reader processes along with its threads.
    static func run(
        count: Int,
        release: () -> Void = {},
        _ body: @escaping @Sendable (_ index: Int, _ ready: () -> Void) throws -> Void
    ) throws -> (start: UInt64, end: UInt64) {
        // Two barriers: `allReady` when every thread is ready, `gate` to let them go once `release` has run.
        let allReady = StartGate(parties: count + 1)
        let gate = StartGate(parties: count + 1)
        let failures = Mutex<[any Error]>([])
        let clock = Mutex<(start: UInt64, end: UInt64)>((.max, 0))
        var threads: [pthread_t] = []
        for index in 0..<count {
            let box = ThreadBox {
                var arrived = false
                do {
                    try body(index) {
                        if !arrived {
                            arrived = true
                            allReady.wait()
                            gate.wait()
                            let now = monotonicNanos()
                            clock.withLock { $0.start = min($0.start, now) }
                        }
                    }
                } catch {
                    failures.withLock { $0.append(error) }
                }
                if !arrived {
                    allReady.wait()
                    gate.wait()
                }
                let now = monotonicNanos()
                clock.withLock { $0.end = max($0.end, now) }
            }
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { argument in
                let box = Unmanaged<ThreadBox>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, Unmanaged.passRetained(box).toOpaque())
            guard rc == 0 else { fatalError("pthread_create failed: \(rc)") }
            threads.append(thread)
        }
        allReady.wait()
        release()
        gate.wait()
        for thread in threads { pthread_join(thread, nil) }
        if let first = failures.withLock({ $0.first }) { throw first }
        let (start, end) = clock.withLock { $0 }
        return (min(start, end), end)
    }
}

/// The closure a thread runs, boxed to cross `pthread_create`'s `void *` argument.
private final class ThreadBox: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// A `pthread_barrier_t`: every party waits until all have arrived.
private final class StartGate: @unchecked Sendable {
    // @unchecked: the barrier lives at a stable heap address and is only used through pthread calls.
    private let barrier: UnsafeMutablePointer<pthread_barrier_t>

    init(parties: Int) {
        barrier = .allocate(capacity: 1)
        pthread_barrier_init(barrier, nil, UInt32(parties))
    }

    func wait() { pthread_barrier_wait(barrier) }

    deinit {
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }
}
