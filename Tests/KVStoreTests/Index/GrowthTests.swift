@testable import KVStore
import Foundation
import Synchronization
import Testing

/// The index grows online: a larger table is built in a new file, synced, renamed into place, and
/// readers move over without errors. One writer inserts 200,000 keys into a store whose index starts
/// at the minimum size (and removes every tenth key shortly after, so tombstones also force
/// rebuilds of the table), while reader threads continuously read keys already written: they must
/// never get an error, a missing key or a wrong value. At the end the index holds at most 32 bytes
/// per live key, and everything survives a clean reopen and a rebuild.
@Suite("Index: growth")
struct GrowthTests {
    static let keyCount = 200_000
    static let readerCount = 3

    static func key(_ i: Int) -> [UInt8] { Array("growth-key-\(i)".utf8) }
    static func value(_ i: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(i).littleEndian) { Array($0) } + [UInt8](repeating: UInt8(i % 251), count: i % 7)
    }
    /// Keys `i` with `i % 10 == 9` are removed five inserts after they were written.
    static func isRemoved(_ i: Int) -> Bool { i % 10 == 9 }

    /// State shared between the writer and the readers.
    final class Shared: Sendable {
        /// Keys `0 ..< published` have been written (and the removable ones may be gone).
        let published = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let failures = Mutex<[String]>([])
        let reads = Mutex<[Int]>([])

        func fail(_ message: String) {
            failures.withLock { if $0.count < 10 { $0.append(message) } }
        }
    }

    @Test func indexGrowsUnderConcurrentReadersWithoutErrorsOrLostKeys() throws {
        try withScratchDirectory { directory in
            var configuration = TestStores.configuration(segmentSize: 8 << 20, bootID: TestStores.randomBootID())
            var store = try Store(path: directory, configuration: configuration)
            let initialCapacity = try store.statistics.indexCapacity
            #expect(initialCapacity == HashIndex.minimumCapacity)

            let shared = Shared()
            let finished = DispatchGroup()
            for reader in 0..<Self.readerCount {
                finished.enter()
                let readerStore = store
                Thread {
                    defer { finished.leave() }
                    var rng = SplitMix64(seed: UInt64(reader) &+ 1)
                    var reads = 0
                    while !shared.stop.load(ordering: .acquiring) {
                        let n = shared.published.load(ordering: .acquiring)
                        guard n > 0 else { continue }
                        let i = Int.random(in: 0..<n, using: &rng)
                        if Self.isRemoved(i) { continue }
                        let key = Self.key(i)
                        do {
                            switch reads % 3 {
                            case 0:
                                let got = try readerStore.value(forKey: key)
                                if got != Self.value(i) { shared.fail("reader \(reader): key \(i) of \(n) read \(got.map { "\($0.count) wrong bytes" } ?? "nil")") }
                            case 1:
                                let matches = try readerStore.withValue(forKey: key) { $0.elementsEqual(Self.value(i)) }
                                if matches != true { shared.fail("reader \(reader): withValue for key \(i) of \(n): \(String(describing: matches))") }
                            default:
                                if try !readerStore.containsKey(key) { shared.fail("reader \(reader): containsKey(\(i)) of \(n) is false") }
                            }
                        } catch {
                            shared.fail("reader \(reader): key \(i) threw \(error)")
                        }
                        reads += 1
                    }
                    shared.reads.withLock { $0.append(reads) }
                }.start()
            }

            var capacities: Set<Int> = [initialCapacity]
            for i in 0..<Self.keyCount {
                try store.set(Self.value(i), forKey: Self.key(i))
                if i >= 5 && Self.isRemoved(i - 5) { #expect(try store.removeValue(forKey: Self.key(i - 5))) }
                shared.published.store(i + 1, ordering: .releasing)
                if i % 4096 == 0 { capacities.insert(try store.statistics.indexCapacity) }
            }
            shared.stop.store(true, ordering: .releasing)
            finished.wait()

            let failures = shared.failures.withLock { $0 }
            #expect(failures.isEmpty, "readers saw: \(failures)")
            let reads = shared.reads.withLock { $0 }
            #expect(reads.count == Self.readerCount && reads.allSatisfy { $0 > 0 }, "reads per reader: \(reads)")

            let live = (0..<Self.keyCount).filter { !Self.isRemoved($0) || $0 >= Self.keyCount - 5 }.count
            let statistics = try store.statistics
            capacities.insert(statistics.indexCapacity)
            #expect(capacities.count >= 8, "the index grew only \(capacities.count - 1) times: \(capacities.sorted())")
            #expect(statistics.keys == live)
            #expect(statistics.indexBytesPerKey <= 32, "index bytes per key: \(statistics.indexBytesPerKey) (capacity \(statistics.indexCapacity), \(statistics.keys) keys)")

            func checkEverything(_ stage: String) throws {
                var wrong = 0
                for i in 0..<Self.keyCount {
                    let want: [UInt8]? = Self.isRemoved(i) && i < Self.keyCount - 5 ? nil : Self.value(i)
                    if try store.value(forKey: Self.key(i)) != want { wrong += 1 }
                }
                #expect(wrong == 0, "\(stage): \(wrong) of \(Self.keyCount) keys read wrong")
                #expect(try store.statistics.keys == live, "\(stage)")
            }
            try store.close()
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            try checkEverything("after a clean reopen")
            store.simulateCrash()
            configuration.bootID = TestStores.randomBootID()
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .rebuilt)
            try checkEverything("after a rebuild")
            let rebuilt = try store.statistics
            #expect(rebuilt.indexBytesPerKey <= 32, "after a rebuild: index bytes per key \(rebuilt.indexBytesPerKey) (capacity \(rebuilt.indexCapacity), \(rebuilt.keys) keys, \(rebuilt.indexBytes) bytes)")
            try store.close()
        }
    }

    /// After `kill -9` in the middle of the life of a grown index, the replay finds every key.
    @Test func grownIndexSurvivesACrashAndReplay() throws {
        try withScratchDirectory { directory in
            let configuration = TestStores.configuration(segmentSize: 1 << 20, bootID: TestStores.randomBootID())
            var store = try Store(path: directory, configuration: configuration)
            for i in 0..<30_000 { try store.set(Self.value(i), forKey: Self.key(i)) }
            let grown = try store.statistics.indexCapacity
            #expect(grown > HashIndex.minimumCapacity * 16)
            store.simulateCrash()
            store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .replayed)
            #expect(try store.statistics.indexCapacity == grown)
            let wrong = try (0..<30_000).filter { try store.value(forKey: Self.key($0)) != Self.value($0) }
            #expect(wrong.isEmpty, "\(wrong.count) keys wrong after replay")
            try store.close()
        }
    }
}
