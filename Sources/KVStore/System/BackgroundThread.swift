#if canImport(Glibc)
import Glibc
#endif

/// A thread of the store's own, for work that runs for the life of a store (the mapping manager's
/// decisions). Not a Dispatch queue: Dispatch runs successive blocks of a queue on whichever
/// worker thread is free, and glibc gives each new thread that allocates its own malloc arena,
/// which reserves 64 MiB of address space. Measured with a Dispatch timer: two arenas and two
/// 8 MiB stacks, +144 MiB of `VmSize` for a task that wakes four times a second. One thread with a
/// small stack costs one arena at most, for as long as the store is open.
final class BackgroundThread: @unchecked Sendable {
    // @unchecked: `thread` is written once, before the handle is shared, and read by join().
    private var thread = pthread_t()

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private init() {}

    /// Starts `body` on a new thread; `nil` when the system refuses one.
    static func start(stackSize: Int = 512 << 10, _ body: @escaping @Sendable () -> Void) -> BackgroundThread? {
        let handle = BackgroundThread()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, max(Int(PTHREAD_STACK_MIN), stackSize))
        let result = pthread_create(&handle.thread, &attributes, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return nil
        }
        return handle
    }

    /// Waits for the thread's body to return.
    func join() { pthread_join(thread, nil) }

    /// Lets the thread's resources go when its body returns, without anyone waiting for it.
    func detach() { pthread_detach(thread) }
}
