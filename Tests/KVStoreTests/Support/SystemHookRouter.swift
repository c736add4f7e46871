@testable import KVStore
import Synchronization

/// Shares the process-wide `SystemHooks` between tests that run in parallel.
///
/// `SystemHooks.install` replaces the one injector and the one sync observer of the process, so
/// two tests that installed their own would switch each other's off. The router installs itself
/// once, for the lifetime of the test process, and hands each call to the test that registered the
/// directory the file is in. Calls on files of other directories (other tests' stores) pass
/// untouched.
///
/// Tests must not call `SystemHooks.install` themselves: register a directory here instead, before
/// the store in it is opened (the hooks learn a descriptor's path when it is opened).
final class SystemHookRouter: Sendable {
    struct Route: Sendable {
        var injector: SystemHooks.Injector?
        var syncObserver: SystemHooks.SyncObserver?
    }

    static let shared: SystemHookRouter = {
        let router = SystemHookRouter()
        SystemHooks.install(injector: { [router] call, path in router.inject(call, path) },
                            syncObserver: { [router] path in router.observe(path) })
        return router
    }()

    private let routes = Mutex<[String: Route]>([:])

    private init() {}

    /// Routes the calls on files in `directory` (and on the directory itself) to the given hooks.
    func register(directory: String, injector: SystemHooks.Injector? = nil, syncObserver: SystemHooks.SyncObserver? = nil) {
        routes.withLock { $0[Self.normalized(directory)] = Route(injector: injector, syncObserver: syncObserver) }
    }

    func unregister(directory: String) {
        _ = routes.withLock { $0.removeValue(forKey: Self.normalized(directory)) }
    }

    private static func normalized(_ directory: String) -> String {
        directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    }

    private func route(for path: String?) -> Route? {
        guard let path else { return nil }
        return routes.withLock { routes in
            for (directory, route) in routes where path == directory || path.hasPrefix(directory + "/") { return route }
            return nil
        }
    }

    // Called by SystemHooks while it holds its own lock: never call into the store from here.
    private func inject(_ call: SystemCall, _ path: String?) -> Int32? {
        route(for: path)?.injector?(call, path)
    }

    private func observe(_ path: String) {
        route(for: path)?.syncObserver?(path)
    }
}

/// Runs `body` with hooks routed for `directory`, and removes them afterwards.
func withSystemHooks<R>(directory: String, injector: SystemHooks.Injector? = nil, syncObserver: SystemHooks.SyncObserver? = nil,
                        _ body: () throws -> R) rethrows -> R {
    SystemHookRouter.shared.register(directory: directory, injector: injector, syncObserver: syncObserver)
    defer { SystemHookRouter.shared.unregister(directory: directory) }
    return try body()
}
