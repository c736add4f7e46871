import Foundation
import KVStore
import Synchronization
import Testing

/// Transactions that read: `Store.write` with reads through the batch, `update`, `compareAndSet`.
@Suite("Transactions")
struct TransactionTests {
    static func number(_ bytes: [UInt8]?) -> Int { bytes.map { Int(String(decoding: $0, as: UTF8.self))! } ?? 0 }
    static func bytes(_ n: Int) -> [UInt8] { Array(String(n).utf8) }

    @Test func readsSeeTheStorePlusTheBatchsOwnEarlierWrites() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/db")
            try store.set("1", forKey: "a")
            try store.set("2", forKey: "b")
            let seen = try store.write { batch -> [[UInt8]?] in
                var seen: [[UInt8]?] = [try batch.value(forKey: "a")]
                batch.set("10", forKey: "a")
                seen.append(try batch.value(forKey: "a"))
                batch.removeValue(forKey: "b")
                seen.append(try batch.value(forKey: "b"))
                #expect(try batch.containsKey("b") == false)
                batch.set("3", forKey: "b")
                seen.append(try batch.value(forKey: "b"))
                #expect(try batch.withValue(forKey: Array("b".utf8)) { $0.count } == 1)
                seen.append(try batch.value(forKey: "c"))
                return seen
            }
            #expect(seen == [Array("1".utf8), Array("10".utf8), nil, Array("3".utf8), nil])
            #expect(try store.value(forKey: "a") == Array("10".utf8))
            #expect(try store.value(forKey: "b") == Array("3".utf8))
            try store.close()
        }
    }

    struct Refused: Error {}

    @Test func aThrowingClosureWritesNothing() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/db")
            try store.set("1", forKey: "a")
            #expect(throws: Refused.self) {
                try store.write { batch in
                    batch.set("2", forKey: "a")
                    batch.set("x", forKey: "new")
                    throw Refused()
                }
            }
            #expect(try store.value(forKey: "a") == Array("1".utf8))
            #expect(try store.containsKey("new") == false)
            #expect(throws: Refused.self) { try store.update(forKey: "a") { _ in throw Refused() } }
            #expect(try store.value(forKey: "a") == Array("1".utf8))
            try store.close()
        }
    }

    /// Writing the store (not the batch) from inside its own transaction, nested transactions
    /// included, fails at once instead of waiting for the writer the transaction holds; the
    /// outer transaction can go on, and writes what it added.
    @Test func aWriteInsideTheTransactionFailsInsteadOfWaitingForItself() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/db")
            try store.write { batch in
                batch.set("outer", forKey: "a")
                let inner = #expect(throws: KVError.self) { try store.set("inner", forKey: "b") }
                #expect(inner?.code == .invalidArgument)
                let nested = #expect(throws: KVError.self) { try store.write { $0.set("nested", forKey: "c") } }
                #expect(nested?.code == .invalidArgument)
                #expect(throws: KVError.self) { try store.update(forKey: "d") { _ in [1] } }
                let close = #expect(throws: KVError.self) { try store.close() }
                #expect(close?.code == .invalidArgument)
                let plain = try store.value(forKey: "a")
                #expect(plain == nil, "plain reads see the store, not the open batch")
            }
            #expect(try store.value(forKey: "a") == Array("outer".utf8))
            for key in ["b", "c", "d"] { #expect(try store.containsKey(key) == false) }
            // And the store writes normally afterwards.
            try store.set("after", forKey: "b")
            #expect(try store.value(forKey: "b") == Array("after".utf8))
            try store.close()
        }
    }

    /// 4 threads, 25,000 read-modify-writes each, on 8 shared counters: no increment is lost.
    @Test func concurrentIncrementsLoseNoUpdate() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/db")
            let threads = 4, perThread = 25_000, counters = 8
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                do {
                    for i in 0 ..< perThread {
                        try store.update(forKey: "counter-\((i + t) % counters)") { Self.bytes(Self.number($0) + 1) }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty)
            let total = try (0 ..< counters).reduce(0) { $0 + Self.number(try store.value(forKey: "counter-\($1)")) }
            #expect(total == threads * perThread)
            try store.close()
        }
    }

    @Test func compareAndSetReplacesOnlyTheExpectedValue() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/db")
            #expect(try store.compareAndSet(forKey: "k", expected: nil, newValue: [1]), "insert if absent")
            #expect(try store.compareAndSet(forKey: "k", expected: nil, newValue: [2]) == false, "present now")
            #expect(try store.value(forKey: "k") == [1])
            #expect(try store.compareAndSet(forKey: "k", expected: [9], newValue: [2]) == false)
            #expect(try store.compareAndSet(forKey: "k", expected: [1], newValue: [2]))
            #expect(try store.value(forKey: "k") == [2])
            #expect(try store.compareAndSet(forKey: "k", expected: [2], newValue: nil), "nil removes")
            #expect(try store.containsKey("k") == false)
            #expect(try store.update(forKey: "k") { old in old == nil ? [5] : nil } == [5])
            #expect(try store.update(forKey: "k") { _ in nil } == nil)
            #expect(try store.containsKey("k") == false)
            try store.close()
        }
    }

    /// A reader is not held up by a transaction: here the transaction waits, holding the writer,
    /// until a reader on another thread has finished a get (it would wait for ever if gets waited
    /// for the writer).
    @Test func readersDoNotWaitForATransaction() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/db")
            try store.set("before", forKey: "k")
            let readerDone = DispatchSemaphore(value: 0)
            let transactionStarted = DispatchSemaphore(value: 0)
            let seen = Mutex<[UInt8]?>(nil)
            Thread.detachNewThread {
                transactionStarted.wait()
                seen.withLock { $0 = try? store.value(forKey: "k") }
                readerDone.signal()
            }
            try store.write { batch in
                batch.set("after", forKey: "k")
                transactionStarted.signal()
                readerDone.wait()
            }
            #expect(seen.withLock { $0 } == Array("before".utf8), "the reader saw the store before the transaction")
            #expect(try store.value(forKey: "k") == Array("after".utf8))
            try store.close()
        }
    }

    /// Transactions against a dictionary model: random reads, sets and removals inside batches,
    /// some thrown away; the store ends as the model does.
    @Test func randomTransactionsMatchTheModel() throws {
        try withTemporaryDirectory { dir in
            var configuration = Store.Configuration()
            configuration.segmentSize = 64 << 10
            let store = try Store(path: dir + "/db", configuration: configuration)
            var model: [String: [UInt8]] = [:]
            var rng = SystemRandomNumberGenerator()
            for round in 0 ..< 600 {
                var pending = model
                let abort = Int.random(in: 0 ..< 10, using: &rng) == 0
                do {
                    try store.write { batch in
                        for _ in 0 ..< Int.random(in: 1 ... 8, using: &rng) {
                            let key = "k\(Int.random(in: 0 ..< 50, using: &rng))"
                            #expect(try batch.value(forKey: key) == pending[key])
                            switch Int.random(in: 0 ..< 3, using: &rng) {
                            case 0:
                                batch.removeValue(forKey: key)
                                pending[key] = nil
                            default:
                                let value = Self.bytes(Self.number(pending[key]) + round)
                                batch.set(value, forKey: key)
                                pending[key] = value
                            }
                        }
                        if abort { throw Refused() }
                    }
                    model = pending
                } catch is Refused {
                    #expect(abort)
                }
            }
            for i in 0 ..< 50 { #expect(try store.value(forKey: "k\(i)") == model["k\(i)"]) }
            try store.close()
        }
    }
}
