@testable import KVStore
import Foundation
import Synchronization
import Testing

/// The async API: writes, `sync()` and `close()` that suspend instead of blocking while the disk
/// works, sharing `fdatasync`s, and cursors for `for try await`.
@Suite("Async")
struct AsyncTests {
    static func configuration(_ durability: Store.Durability = .sync) -> Store.Configuration {
        var c = Store.Configuration()
        c.durability = durability
        c.automaticCompaction = nil
        return c
    }

    /// 1,000 tasks write in `.sync` mode while the first `fdatasync` is held back until every one
    /// of them has written. They run on an executor of two threads of their own (the pool of a
    /// two-core machine, and no other test's blocking work in it): if a write blocked its thread
    /// waiting for the disk, both would be stuck long before, the releasing task could never run,
    /// and the test would wait for the watchdog. Suspended, they share a few syncs.
    @Test func aThousandAsyncWritersShareSyncsWithoutBlockingThePool() async throws {
        try await withTemporaryDirectoryAsync { dir in
            let gate = Gate()
            let writers = 1_000
            // Hooks before the open: they learn a descriptor's path when it is opened.
            try await withSystemHooksAsync(directory: dir, syncObserver: { _ in gate.waitIfClosed() }) {
                let store = try Store(path: dir, configuration: Self.configuration())
                let roundsBefore = store.engine.coordinator.syncRounds
                gate.close()
                let watchdog = Thread {
                    // A liveness bound, not a timing: only a deadlock gets here.
                    for _ in 0..<600 where !gate.isOpen { usleep(100_000) }
                    if !gate.isOpen { gate.timedOut(); gate.open() }
                }
                watchdog.start()
                let executor = ThreadExecutor(threads: 2)
                defer { executor.stop() }
                try await withTaskExecutorPreference(executor) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for i in 0..<writers {
                            group.addTask { try await store.set(Array("value \(i)".utf8), forKey: Array("key \(i)".utf8)) }
                        }
                        group.addTask {
                            // Runs on the same two threads: it opens the gate once every write is in.
                            while store.engine.coordinator.writtenSequence < UInt64(writers) { await Task.yield() }
                            gate.open()
                        }
                        try await group.waitForAll()
                    }
                }
                #expect(!gate.didTimeOut, "the async writers blocked the cooperative pool")
                #expect(gate.held, "the first sync waited at the gate")
                let rounds = store.engine.coordinator.syncRounds - roundsBefore
                #expect(rounds > 0)
                #expect(writers / max(rounds, 1) >= 8, "\(writers) writes took \(rounds) sync rounds")
                for i in stride(from: 0, to: writers, by: 97) {
                    #expect(try store.value(forKey: Array("key \(i)".utf8)) == Array("value \(i)".utf8))
                }
                try await store.close()
            }
            let reopened = try Store(path: dir, configuration: Self.configuration())
            #expect(reopened.recoveryReport.indexTrust == .clean)
            #expect(try reopened.value(forKey: "key 999") == Array("value 999".utf8))
            try await reopened.close()
        }
    }

    @Test(arguments: [Store.Durability.sync, .process])
    func asyncWritesRemovalsAndTransactionsReadBack(_ durability: Store.Durability) async throws {
        try await withTemporaryDirectoryAsync { dir in
            let store = try Store(path: dir, configuration: Self.configuration(durability))
            try await store.set("a", forKey: "1")
            try await store.set(Array("b".utf8), forKey: "2")
            try await store.set(Array("c".utf8), forKey: Array("3".utf8))
            #expect(try await store.removeValue(forKey: "2"))
            #expect(try await !store.removeValue(forKey: "absent"))
            let n = try await store.write { batch in
                batch.set(Array("x".utf8), forKey: "4")
                batch.removeValue(forKey: "1")
                return 7
            }
            #expect(n == 7)
            let updated = try await store.update(forKey: "3") { old in (old ?? []) + Array("!".utf8) }
            #expect(updated == Array("c!".utf8))
            try await store.sync()
            var seen: [String: [UInt8]] = [:]
            for try await (key, value) in try store.entries() { seen[String(decoding: key, as: UTF8.self)] = value }
            #expect(seen == ["3": Array("c!".utf8), "4": Array("x".utf8)])
            var keys: Set<String> = []
            for try await key in try store.keys() { keys.insert(String(decoding: key, as: UTF8.self)) }
            #expect(keys == ["3", "4"])
            try await store.close()
            #expect(throws: KVError.self) { try store.value(forKey: "3") }
            let reopened = try Store(path: dir)
            #expect(reopened.recoveryReport.indexTrust == .clean)
            #expect(try reopened.value(forKey: "4") == Array("x".utf8))
            try await reopened.close()
        }
    }

    /// Counters incremented by read-modify-write from 4 tasks: no increment is lost.
    @Test func asyncUpdatesFromConcurrentTasksLoseNoIncrement() async throws {
        try await withTemporaryDirectoryAsync { dir in
            let store = try Store(path: dir, configuration: Self.configuration(.process))
            let perTask = 2_500
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        for i in 0..<perTask {
                            try await store.update(forKey: "counter \(i % 3)") { old in
                                let n = old.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
                                return Array(String(n + 1).utf8)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            var total = 0
            for k in 0..<3 { total += Int(try store.string(forKey: "counter \(k)") ?? "0")! }
            #expect(total == 4 * perTask)
            try await store.close()
        }
    }

    @Test func asyncWriteAfterAFailedSyncThrowsTheSyncError() async throws {
        try await withTemporaryDirectoryAsync { dir in
            let failing = Atomic<Bool>(false)
            try await withSystemHooksAsync(directory: dir, injector: { call, _ in call == .fdatasync && failing.load(ordering: .relaxed) ? EIO : nil }) {
                let store = try Store(path: dir, configuration: Self.configuration())
                try await store.set("before", forKey: "k")
                failing.store(true, ordering: .relaxed)
                var error: (any Error)? = nil
                do { try await store.set("during", forKey: "k") } catch let e { error = e }
                #expect((error as? KVError)?.errno == EIO, "\(String(describing: error))")
                failing.store(false, ordering: .relaxed)
                await #expect(throws: KVError.self) { try await store.set("after", forKey: "k") }
                store.simulateCrash()
            }
        }
    }
}

/// A task executor with threads of its own, so that a test's tasks share no thread with the
/// other tests' (which may block the global pool's threads meanwhile).
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` and `stopped` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init(threads: Int) {
        for _ in 0..<threads { Thread { [self] in run() }.start() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty { condition.unlock(); return }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// A gate the sync observer waits at while it is closed.
final class Gate: Sendable {
    private let state = Mutex((closed: false, timedOut: false, held: false))
    func close() { state.withLock { $0.closed = true } }
    func open() { state.withLock { $0.closed = false } }
    var isOpen: Bool { state.withLock { !$0.closed } }
    func timedOut() { state.withLock { $0.timedOut = true } }
    var didTimeOut: Bool { state.withLock { $0.timedOut } }
    var held: Bool { state.withLock { $0.held } }
    func waitIfClosed() {
        while !isOpen {
            state.withLock { $0.held = true }
            usleep(1_000)
        }
    }
}

func withTemporaryDirectoryAsync<R>(_ body: (String) async throws -> R) async throws -> R {
    let path = NSTemporaryDirectory() + "kvstore-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func withSystemHooksAsync<R>(directory: String, injector: SystemHooks.Injector? = nil, syncObserver: SystemHooks.SyncObserver? = nil,
                             _ body: () async throws -> R) async rethrows -> R {
    SystemHookRouter.shared.register(directory: directory, injector: injector, syncObserver: syncObserver)
    defer { SystemHookRouter.shared.unregister(directory: directory) }
    return try await body()
}
