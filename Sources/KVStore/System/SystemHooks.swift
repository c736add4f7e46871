import Synchronization

/// Test seams in the system-call layer: inject an error into any call, and observe every
/// successful sync (the power-loss simulation snapshots files there).
///
/// Compiled in only where tests need them (debug builds define `KVSTORE_FAULT_HOOKS`): in a
/// release build every hook is an empty function, so a client pays nothing for them. Disabled by
/// default in a debug build too; the fast path there is one relaxed atomic load.
final class SystemHooks: Sendable {
    /// Decides whether a call fails: return an errno to inject it, `nil` to let the call run.
    typealias Injector = @Sendable (SystemCall, _ path: String?) -> Int32?
    /// Called after a successful `fdatasync`, `fsync` or `msync` with the file's path.
    typealias SyncObserver = @Sendable (_ path: String) -> Void

    private struct State {
        var injector: Injector?
        var syncObserver: SyncObserver?
        var paths: [Int32: String] = [:]
    }

    private static let enabled = Atomic<Bool>(false)
    private static let state = Mutex(State())

    /// Installs hooks. Pass `nil` for both to switch them off.
    static func install(injector: Injector?, syncObserver: SyncObserver?) {
        state.withLock {
            $0.injector = injector
            $0.syncObserver = syncObserver
            if injector == nil && syncObserver == nil { $0.paths = [:] }
        }
        enabled.store(injector != nil || syncObserver != nil, ordering: .releasing)
    }

    @inline(__always)
    static func check(_ call: SystemCall, path: String) throws(Errno) {
        #if KVSTORE_FAULT_HOOKS
        guard enabled.load(ordering: .relaxed) else { return }
        if let injected = state.withLock({ $0.injector?(call, path) }) { throw Errno(injected) }
        #endif
    }

    @inline(__always)
    static func check(_ call: SystemCall, fd: Int32) throws(Errno) {
        #if KVSTORE_FAULT_HOOKS
        guard enabled.load(ordering: .relaxed) else { return }
        if let injected = state.withLock({ s in s.injector?(call, s.paths[fd]) }) { throw Errno(injected) }
        #endif
    }

    static func opened(_ fd: Int32, path: String) {
        #if KVSTORE_FAULT_HOOKS
        guard enabled.load(ordering: .relaxed) else { return }
        state.withLock { $0.paths[fd] = path }
        #endif
    }

    static func closed(_ fd: Int32) {
        #if KVSTORE_FAULT_HOOKS
        guard enabled.load(ordering: .relaxed) else { return }
        _ = state.withLock { $0.paths.removeValue(forKey: fd) }
        #endif
    }

    static func synced(_ fd: Int32) {
        #if KVSTORE_FAULT_HOOKS
        guard enabled.load(ordering: .relaxed) else { return }
        let (observer, path) = state.withLock { ($0.syncObserver, $0.paths[fd]) }
        if let observer, let path { observer(path) }
        #endif
    }
}
