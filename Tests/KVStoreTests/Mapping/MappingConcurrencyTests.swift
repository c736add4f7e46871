@testable import KVStore
import Foundation
import Synchronization
import Testing

/// Gets, a writer, compaction and the mapping manager all at once: small segments, a budget of a
/// few of them, decisions forced as fast as they run, so that segments are mapped, given up and
/// retired under readers all the time. Every get must still see the newest acknowledged value,
/// and what is mapped must never pass the budget.
@Suite("Mapping: concurrent readers, a writer and the manager")
struct MappingConcurrencyTests {
    static let keys = 300
    static let segmentSize = 64 << 10

    private static func key(_ i: Int) -> [UInt8] { Array("key-\(i)".utf8) }
    private static func value(_ i: Int, _ version: Int) -> [UInt8] {
        Array("\(i):\(version):".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: i &+ version), count: 100 + i % 200)
    }
    private static func version(of value: [UInt8], key i: Int) -> Int? {
        let text = String(decoding: value.prefix(24), as: UTF8.self).split(separator: ":")
        guard text.count >= 2, Int(text[0]) == i, let version = Int(text[1]), value == Self.value(i, version) else { return nil }
        return version
    }

    /// Acknowledged versions, per key: what a get that starts later must see at least.
    final class Acknowledged: Sendable {
        private let versions: Mutex<[Int]>
        init(_ count: Int) { versions = Mutex([Int](repeating: -1, count: count)) }
        func store(_ version: Int, _ i: Int) { versions.withLock { $0[i] = version } }
        func load(_ i: Int) -> Int { versions.withLock { $0[i] } }
    }

    private func run(readerHandle: (String) throws -> Store?, seconds: Double, budgetSegments: Int) throws {
        try withTemporaryDirectory { dir in
            var configuration = TestStores.configuration(segmentSize: Self.segmentSize)
            configuration.mappingBudget = budgetSegments * Self.segmentSize
            var automatic = Store.CompactionOptions()
            automatic.minimumDeadRatio = 0.3
            automatic.minimumDeadBytes = 0
            configuration.automaticCompaction = automatic
            let writer = try Store(path: dir, configuration: configuration)
            let acknowledged = Acknowledged(Self.keys)
            for i in 0..<Self.keys {
                try writer.set(Self.value(i, 0), forKey: Self.key(i))
                acknowledged.store(0, i)
            }
            let reader = try readerHandle(dir) ?? writer
            let budget = reader.engine.mappings.budget
            let stop = Atomic(false)
            let failures = Mutex<[String]>([])
            let reads = Atomic(0)
            let maxMapped = Atomic(0)
            // Threads of their own: the global queue runs only as many blocks as there are cores,
            // and these loop until stopped.
            let group = DispatchGroup()
            func spawn(_ body: @escaping @Sendable () -> Void) {
                group.enter()
                Thread { body(); group.leave() }.start()
            }
            for t in 0..<2 {
                spawn {
                    var rng = SystemRandomNumberGenerator()
                    while !stop.load(ordering: .relaxed) {
                        // Hot keys and cold ones: the low keys are read far more often.
                        let i = t == 0 ? Int.random(in: 0..<20, using: &rng) : Int.random(in: 0..<Self.keys, using: &rng)
                        let floor = acknowledged.load(i)
                        do {
                            guard let value = try reader.value(forKey: Self.key(i)) else {
                                failures.withLock { $0.append("key \(i) absent") }
                                continue
                            }
                            guard let version = Self.version(of: value, key: i) else {
                                failures.withLock { $0.append("key \(i): bytes of no version") }
                                continue
                            }
                            if version < floor { failures.withLock { $0.append("key \(i) read as version \(version), \(floor) acknowledged before") } }
                            reads.add(1, ordering: .relaxed)
                        } catch {
                            failures.withLock { $0.append("key \(i): \(error)") }
                        }
                    }
                }
            }
            spawn {
                while !stop.load(ordering: .relaxed) {
                    reader.engine.mappings.decideNow()
                    let mapped = reader.engine.mappings.figures.mappedBytes
                    if mapped > maxMapped.load(ordering: .relaxed) { maxMapped.store(mapped, ordering: .relaxed) }
                    usleep(2_000)
                }
            }
            let deadline = Date().addingTimeInterval(seconds)
            var version = 1
            var rng = SystemRandomNumberGenerator()
            while Date() < deadline {
                for _ in 0..<50 {
                    let i = Int.random(in: 0..<Self.keys, using: &rng)
                    try writer.set(Self.value(i, version), forKey: Self.key(i))
                    acknowledged.store(version, i)
                }
                version += 1
            }
            stop.store(true, ordering: .relaxed)
            group.wait()
            let figures = reader.engine.mappings.figures
            let found = failures.withLock { $0 }
            #expect(found.isEmpty, "\(found.count) failures, first: \(found.prefix(5))")
            #expect(reads.load(ordering: .relaxed) > 1_000)
            #expect(maxMapped.load(ordering: .relaxed) <= budget)
            #expect(figures.maps > 0, "nothing was ever mapped")
            #expect(figures.unmaps > 0, "nothing was ever unmapped")
            if reader !== writer { try reader.close() }
            try writer.close()
        }
    }

    @Test func writersOwnGetsStayFreshWhileSegmentsAreMappedAndUnmapped() throws {
        try run(readerHandle: { _ in nil }, seconds: 3, budgetSegments: 4)
    }

    @Test func liveReaderGetsStayFreshWhileSegmentsAreMappedAndUnmapped() throws {
        try run(readerHandle: { dir in
            var configuration = TestStores.configuration(segmentSize: Self.segmentSize)
            configuration.readOnly = true
            configuration.mappingBudget = 4 * Self.segmentSize
            return try Store(path: dir, configuration: configuration)
        }, seconds: 3, budgetSegments: 4)
    }
}
