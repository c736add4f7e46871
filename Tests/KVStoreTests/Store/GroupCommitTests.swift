@testable import KVStore
import Foundation
import Synchronization
import Testing

@Suite("Group commit")
struct GroupCommitTests {
    /// With `.sync`, writers that arrive while a sync is running wait for the next one and share it.
    /// A sync observer that holds the leader for 100 ms makes the overlap certain.
    @Test func concurrentSyncWritersShareFdatasyncs() throws {
        try withTemporaryDirectory { dir in
            let slowSyncs = Atomic<Int>(0)
            try withSystemHooks(directory: dir, syncObserver: { path in
                if path.hasSuffix(".seg") {
                    slowSyncs.add(1, ordering: .relaxed)
                    usleep(100_000)
                }
            }) {
                var configuration = Store.Configuration()
                configuration.durability = .sync
                let store = try Store(path: dir, configuration: configuration)
                let before = try store.statistics.syncs
                let writers = 8
                // One thread per writer (concurrentPerform would run only as many as there are cores).
                let done = DispatchGroup()
                for i in 0..<writers {
                    done.enter()
                    Thread.detachNewThread {
                        try? store.set([UInt8](repeating: UInt8(i), count: 100), forKey: Array("key-\(i)".utf8))
                        done.leave()
                    }
                }
                done.wait()
                let rounds = try store.statistics.syncs - before
                for i in 0..<writers {
                    #expect(try store.value(forKey: Array("key-\(i)".utf8)) == [UInt8](repeating: UInt8(i), count: 100))
                }
                // Each write returned only after a sync that covered it, and they shared rounds.
                #expect(rounds >= 1)
                #expect(rounds < writers, "\(rounds) sync rounds for \(writers) concurrent writes")
                try store.close()
            }
            #expect(slowSyncs.load(ordering: .relaxed) >= 1)
        }
    }

    /// A failed sync is final: it is reported, and the store refuses writes instead of retrying
    /// the sync into a false success.
    @Test func failedSyncIsReportedAndNeverRetriedIntoSuccess() throws {
        try withTemporaryDirectory { dir in
            let failing = Atomic<Bool>(false)
            try withSystemHooks(directory: dir, injector: { call, _ in
                call == .fdatasync && failing.load(ordering: .relaxed) ? EIO : nil
            }) {
                let store = try Store(path: dir)
                try store.set("before", forKey: "a")
                try store.sync()
                failing.store(true, ordering: .relaxed)
                try store.set("after", forKey: "b")
                #expect { try store.sync() } throws: { ($0 as? KVError)?.code == .io && ($0 as? KVError)?.errno == EIO }
                failing.store(false, ordering: .relaxed)
                // The disk "works" again, but the pages may be gone: no false success.
                #expect { try store.sync() } throws: { ($0 as? KVError)?.code == .io }
                #expect { try store.set("later", forKey: "c") } throws: { ($0 as? KVError)?.code == .io }
                // Reads still work.
                #expect(try store.string(forKey: "a") == "before")
                store.simulateCrash()
            }
            // Reopening starts afresh: the synced write is there.
            let reopened = try Store(path: dir)
            #expect(try reopened.string(forKey: "a") == "before")
            try reopened.set("again", forKey: "c")
            try reopened.sync()
            try reopened.close()
        }
    }
}
