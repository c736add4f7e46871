@testable import KVStore
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing

/// What a get does when its segment is mapped, and when the mapping budget says no.
@Suite("Mapping: reads from mapped segments")
struct MappedReadTests {
    static let segmentSize = 64 << 10

    private func key(_ i: Int) -> [UInt8] { Array("key-\(i)".utf8) }
    private func value(_ i: Int) -> [UInt8] { Array("value-\(i)-".utf8) + [UInt8](repeating: UInt8(i % 251), count: 120) }

    private func configuration(budget: Int = 1 << 30) -> Store.Configuration {
        var configuration = TestStores.configuration(segmentSize: Self.segmentSize)
        configuration.mappingBudget = budget
        configuration.automaticCompaction = nil
        // Step by step: only the test's own decideNow() decides.
        configuration.decidesMappingsInBackground = false
        return configuration
    }

    /// A store of `count` keys over several sealed segments, closed.
    private func filledStore(_ dir: String, count: Int = 3_000) throws {
        let store = try Store(path: dir, configuration: configuration())
        for i in 0..<count { try store.set(value(i), forKey: key(i)) }
        try store.close()
    }

    /// Reads every key `rounds` times, then lets the manager decide.
    private func readAll(_ store: Store, count: Int = 3_000, rounds: Int = 3) throws {
        for _ in 0..<rounds { for i in 0..<count { #expect(try store.value(forKey: key(i)) == value(i)) } }
        store.engine.mappings.decideNow()
    }

    /// Counts the system calls made on the files of `dir` while armed. Registered before the
    /// store opens: the hooks learn a descriptor's path when it is opened.
    final class CallCounter: Sendable {
        private let counts = Mutex<[SystemCall: Int]>([:])
        private let armed = Atomic(false)
        func injector() -> SystemHooks.Injector {
            { [self] call, _ in
                if armed.load(ordering: .relaxed) { counts.withLock { $0[call, default: 0] += 1 } }
                return nil
            }
        }
        func counting(_ body: () throws -> Void) rethrows -> [SystemCall: Int] {
            counts.withLock { $0 = [:] }
            armed.store(true, ordering: .relaxed)
            defer { armed.store(false, ordering: .relaxed) }
            try body()
            return counts.withLock { $0 }
        }
    }

    private func withCounter<R>(_ dir: String, _ body: (CallCounter) throws -> R) throws -> R {
        let counter = CallCounter()
        return try withSystemHooks(directory: dir, injector: counter.injector()) { try body(counter) }
    }

    @Test func aReopenedStoreMapsNothingUntilReadsCome() throws {
        try withTemporaryDirectory { dir in
            try filledStore(dir)
            let store = try Store(path: dir, configuration: configuration())
            store.engine.mappings.decideNow()
            store.engine.mappings.decideNow()
            #expect(try store.statistics.mappedSegments == 0)
            #expect(try store.statistics.segmentMaps == 0)
            try readAll(store)
            let statistics = try store.statistics
            #expect(statistics.mappedSegments == statistics.segments - 1, "every sealed segment is read, so every one is mapped")
            #expect(statistics.mappedBytes > 0)
            #expect(statistics.segmentMaps == statistics.mappedSegments)
            try store.close()
        }
    }

    @Test func aGetFromAMappedSegmentMakesNoSystemCall() throws {
        try withTemporaryDirectory { dir in
            try filledStore(dir)
            try withCounter(dir) { counter in
                let store = try Store(path: dir, configuration: configuration())
                // Every descriptor opened while the hooks know their paths.
                let unmapped = try counter.counting { () throws -> Void in
                    for i in 0..<3_000 { #expect(try store.value(forKey: key(i)) == value(i)) }
                }
                #expect(unmapped[.pread, default: 0] > 2_000, "before mapping, gets from sealed segments read with pread")
                try readAll(store)
                #expect(try store.statistics.mappedSegments > 0)
                // Sealed segments mapped, the active one read through the writer's mapping.
                try store.set(value(1), forKey: key(1))
                let calls = try counter.counting { () throws -> Void in
                    for i in 0..<3_000 { #expect(try store.value(forKey: key(i)) == value(i)) }
                    for i in 0..<3_000 { #expect(try store.containsKey(key(i))) }
                }
                #expect(calls.isEmpty, "system calls made by gets from mapped segments: \(calls)")
                try store.close()
            }
        }
    }

    @Test func aBudgetOfZeroMapsNoSealedSegment() throws {
        try withTemporaryDirectory { dir in
            try filledStore(dir)
            try withCounter(dir) { counter in
                let store = try Store(path: dir, configuration: configuration(budget: 0))
                let calls = try counter.counting { () throws -> Void in
                    try readAll(store)
                    try readAll(store)
                }
                #expect(calls[.mmap, default: 0] == 0)
                #expect(calls[.pread, default: 0] >= 6 * 3_000, "every get reads its record with pread")
                let statistics = try store.statistics
                #expect(statistics.mappedSegments == 0 && statistics.mappedBytes == 0 && statistics.segmentMaps == 0)
                try store.close()
            }
        }
    }

    @Test func withValueHandsOverTheMappedBytesThemselves() throws {
        try withTemporaryDirectory { dir in
            try filledStore(dir)
            let store = try Store(path: dir, configuration: configuration())
            try readAll(store)
            let view = try store.engine.views.get()
            var inPlace = 0
            for i in 0..<3_000 {
                let address = try store.withValue(forKey: key(i)) { bytes -> UInt in
                    #expect(Array(bytes) == value(i))
                    return UInt(bitPattern: bytes.baseAddress)
                }
                let mapped = view.segments.all.contains { file in
                    guard let region = view.mappings.region(file.id) else { return false }
                    let start = UInt(bitPattern: region.start)
                    return address! >= start && address! < start + UInt(region.length)
                }
                if mapped { inPlace += 1 }
            }
            #expect(inPlace == 3_000, "values handed over from the mapping without a copy")
            try store.close()
        }
    }

    /// The same damage, read through a mapping and with pread: the same error.
    @Test(arguments: [1 << 30, 0])
    func aDamagedRecordInAMappedSegmentIsCorruptionAsWithPread(budget: Int) throws {
        try withTemporaryDirectory { dir in
            try filledStore(dir)
            let store = try Store(path: dir, configuration: configuration(budget: budget))
            try readAll(store)
            #expect(try store.statistics.mappedSegments == (budget == 0 ? 0 : store.statistics.segments - 1))
            let first = try FileSurgery.segmentNames(in: dir).first!
            let records = try FileSurgery.records(inSegment: dir + "/" + first)
            let victim = records[records.count / 2]
            // A byte of the value, changed in the file under the mapping (the page cache is one).
            try FileSurgery.xor(dir + "/" + first, at: victim.offset + victim.length - 3)
            let damaged = records.firstIndex { $0.offset == victim.offset }!
            var thrown: KVError? = nil
            for i in 0..<3_000 {
                do { _ = try store.value(forKey: key(i)) } catch let error as KVError { thrown = error }
            }
            #expect(thrown?.code == .corruption)
            #expect(thrown?.offset == Int64(victim.offset))
            #expect(thrown?.message == "checksum mismatch", "record \(damaged)")
            try store.close()
        }
    }

    @Test func compactionRetiresAMappedSegmentAndItIsUnmapped() throws {
        try withTemporaryDirectory { dir in
            try filledStore(dir)
            let store = try Store(path: dir, configuration: configuration())
            try readAll(store)
            let before = try store.statistics
            #expect(before.mappedSegments > 0)
            // Every key of the first segments rewritten: they hold only dead records.
            for i in 0..<1_500 { try store.set(value(i), forKey: key(i)) }
            try store.sync()
            store.engine.sealer.drain()
            var options = Store.CompactionOptions()
            options.minimumDeadRatio = 0.9
            options.minimumDeadBytes = 0
            let report = try store.compact(options)
            #expect(report.segmentsCompacted > 0)
            store.engine.mappings.decideNow()
            let after = try store.statistics
            #expect(after.segmentUnmaps >= report.segmentsCompacted)
            #expect(after.mappedSegments <= before.mappedSegments - report.segmentsCompacted + 2)
            for i in 0..<3_000 { #expect(try store.value(forKey: key(i)) == value(i)) }
            try store.close()
        }
    }

    @Test func largeValuesReadAgainAndAgainStayWithinTheBudget() throws {
        try withTemporaryDirectory { dir in
            var configuration = configuration(budget: 4 << 20)
            configuration.segmentSize = 1 << 20
            let store = try Store(path: dir, configuration: configuration)
            let big = (0..<96).map { i in [UInt8](repeating: UInt8(i), count: 200 << 10) }
            for (i, v) in big.enumerated() { try store.set(v, forKey: key(i)) }
            var most = 0
            for round in 0..<12 {
                // Each round a different part of the data is hot.
                let hot = (round % 4) * 24
                for _ in 0..<12 { for i in hot..<(hot + 24) { #expect(try store.value(forKey: key(i)) == big[i]) } }
                store.engine.mappings.decideNow()
                most = max(most, store.engine.mappings.figures.mappedBytes)
                #expect(store.engine.mappings.figures.mappedBytes <= 4 << 20)
            }
            #expect(most > 0)
            try store.close()
        }
    }

}

/// Locking the index in memory. Serialized: one test lowers the process's `RLIMIT_MEMLOCK`, which
/// the other would meet half way.
@Suite("Mapping: the index locked in memory", .serialized)
struct IndexLockTests {
    private func key(_ i: Int) -> [UInt8] { Array("key-\(i)".utf8) }
    private func value(_ i: Int) -> [UInt8] { Array("value-\(i)-".utf8) + [UInt8](repeating: UInt8(i % 251), count: 120) }

    private func configuration() -> Store.Configuration {
        var configuration = TestStores.configuration(segmentSize: 64 << 10)
        configuration.automaticCompaction = nil
        return configuration
    }

    private func filledStore(_ dir: String) throws {
        let store = try Store(path: dir, configuration: configuration())
        for i in 0..<3_000 { try store.set(value(i), forKey: key(i)) }
        try store.close()
    }

    @Test func lockingAnIndexPastTheMemoryLockLimitIsAClearError() throws {
        try withTemporaryDirectory { dir in
            try filledStore(dir)
            var configuration = configuration()
            configuration.lockIndexInMemory = true
            var previous = rlimit()
            getrlimit(Int32(__RLIMIT_MEMLOCK.rawValue), &previous)
            var low = previous
            low.rlim_cur = 16 << 10
            #expect(setrlimit(Int32(__RLIMIT_MEMLOCK.rawValue), &low) == 0)
            defer { var restore = previous; setrlimit(Int32(__RLIMIT_MEMLOCK.rawValue), &restore) }
            #expect { try Store(path: dir, configuration: configuration) } throws: { error in
                let error = error as? KVError
                return error?.code == .resourceLimit && error?.message.contains("RLIMIT_MEMLOCK") == true
            }
            var reader = configuration
            reader.readOnly = true
            #expect { try Store(path: dir, configuration: reader) } throws: { isKVError($0, .resourceLimit) }
            // Nothing was changed: the store opens without the lock and holds every key.
            let store = try Store(path: dir, configuration: self.configuration())
            for i in 0..<3_000 { #expect(try store.value(forKey: key(i)) == value(i)) }
            try store.close()
        }
    }

    @Test func anIndexWithinTheLimitIsLockedAndGrowsLocked() throws {
        try withTemporaryDirectory { dir in
            var configuration = configuration()
            configuration.lockIndexInMemory = true
            if let limit = Sys.memoryLockLimit(), limit < 4 << 20 { return }  // too little to lock even a small index here
            let store = try Store(path: dir, configuration: configuration)
            for i in 0..<20_000 { try store.set(value(i), forKey: key(i)) }
            #expect(try store.statistics.indexCapacity > 20_000)
            for i in 0..<20_000 { #expect(try store.value(forKey: key(i)) == value(i)) }
            // The grown index is what is locked now (the kernel's count of locked memory).
            // AddressSanitizer turns mlock into a no-op that succeeds, so the kernel's count is
            // only looked at without it.
            if !Self.underAddressSanitizer {
                let locked = try Self.statusKB("VmLck")
                #expect(locked * 1024 >= Int(try store.statistics.indexBytes), "VmLck \(locked) KiB")
            }
            try store.close()
        }
    }

    /// Whether this process runs under AddressSanitizer (its runtime defines `__asan_init`).
    static var underAddressSanitizer: Bool {
        dlsym(nil, "__asan_init") != nil  // nil is RTLD_DEFAULT: every loaded object
    }

    /// A kB field of `/proc/self/status`.
    static func statusKB(_ field: String) throws -> Int {
        let fd = open("/proc/self/status", O_RDONLY)
        guard fd >= 0 else { throw FileSurgery.Failure(description: "open status: errno \(errno)") }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let text = String(decoding: chunk.prefix(max(0, n)), as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).filter(\.isNumber)) ?? 0
        }
        return 0
    }
}

/// The advice the kernel was given, as it reports it (`VmFlags` in `/proc/self/smaps`: `rr` is
/// `MADV_RANDOM`).
@Suite("Mapping: advice")
struct MappingAdviceTests {
    /// The `VmFlags` of every mapping of `path` in this process.
    static func flags(of path: String) throws -> [[String]] {
        // Read to the end: /proc files report a size of 0.
        let fd = open("/proc/self/smaps", O_RDONLY)
        guard fd >= 0 else { throw FileSurgery.Failure(description: "open smaps: errno \(errno)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        let smaps = String(decoding: bytes, as: UTF8.self)
        var result: [[String]] = []
        var inside = false
        for line in smaps.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first.isHexDigit, line.contains("-"), line.split(separator: " ").count >= 5 {
                inside = line.hasSuffix(" " + path) || line.hasSuffix("\t" + path)
            } else if inside, line.hasPrefix("VmFlags:") {
                result.append(line.dropFirst("VmFlags:".count).split(separator: " ").map(String.init))
            }
        }
        return result
    }

    @Test func theIndexAndMappedSegmentsAreAdvisedForRandomAccess() throws {
        try withTemporaryDirectory { dir in
            var configuration = TestStores.configuration(segmentSize: 64 << 10)
            configuration.automaticCompaction = nil
            configuration.decidesMappingsInBackground = false
            let store = try Store(path: dir, configuration: configuration)
            for i in 0..<2_000 { try store.set([UInt8](repeating: UInt8(i % 251), count: 100), forKey: Array("k\(i)".utf8)) }
            for _ in 0..<3 { for i in 0..<2_000 { _ = try store.value(forKey: Array("k\(i)".utf8)) } }
            store.engine.mappings.decideNow()
            let index = try Self.flags(of: dir + "/index")
            #expect(!index.isEmpty && index.allSatisfy { $0.contains("rr") }, "\(index)")
            let first = try FileSurgery.segmentNames(in: dir).first!
            let segment = try Self.flags(of: dir + "/" + first)
            #expect(segment.count == 1 && segment[0].contains("rr") && !segment[0].contains("wr"), "\(segment)")
            try store.close()
        }
    }
}
