// kvstore-crash-child --rebuild-memory STORE_DIR KEYS ROUNDS
//
// Writes KEYS keys ROUNDS times each into a new store (in a shuffled order every round, with every
// seventh key removed in the middle round and set again in the next, and every thirteenth removed
// for good), closes it, then rebuilds its index with `Store.rebuildIndex` while a thread samples
// RssAnon of /proc/self/status every millisecond. Prints
//   LIVE <live keys> BASE <kB> PEAK <kB> VERIFYBASE <kB> VERIFYPEAK <kB>
// where BASE is RssAnon just before the rebuild and PEAK the most seen during it, and the same
// for a `verify()` of the store after it (which must find nothing wrong), and exits 0.
// Tests/KVStoreTests/Recovery/BoundedRebuildTests holds the rebuild's growth to its bound.

import KVStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

private let sampling = Atomic<Bool>(false)
private let peakAnonymousKB = Atomic<Int>(0)

/// RssAnon of this process, in kB (0 when it cannot be read).
func anonymousKB() -> Int {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 8192)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return 0 }
    let text = String(decoding: buffer.prefix(n), as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("RssAnon:") {
        return Int(line.dropFirst(8).filter(\.isNumber)) ?? 0
    }
    return 0
}

/// RssAnon before `body`, and the most seen while it ran (sampled every millisecond).
func sampled(_ body: () throws -> Void) rethrows -> (base: Int, peak: Int) {
    let base = anonymousKB()
    peakAnonymousKB.store(base, ordering: .relaxed)
    sampling.store(true, ordering: .releasing)
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        while sampling.load(ordering: .acquiring) {
            let now = anonymousKB()
            if now > peakAnonymousKB.load(ordering: .relaxed) { peakAnonymousKB.store(now, ordering: .relaxed) }
            usleep(1_000)
        }
        return nil
    }, nil)
    defer {
        sampling.store(false, ordering: .releasing)
        pthread_join(thread, nil)
    }
    try body()
    return (base, max(base, peakAnonymousKB.load(ordering: .relaxed)))
}

func runRebuildMemory(_ arguments: [String]) -> Never {
    guard arguments.count == 3, let keys = Int(arguments[1]), let rounds = Int(arguments[2]), rounds >= 3 else {
        fail("usage: --rebuild-memory STORE_DIR KEYS ROUNDS (ROUNDS ≥ 3)")
    }
    let directory = arguments[0]
    do {
        var configuration = Store.Configuration()
        configuration.automaticCompaction = nil
        configuration.segmentSize = 4 << 20
        let store = try Store(path: directory, configuration: configuration)
        var rng = SplitMix64(state: 11)
        var order = Array(0..<keys)
        let middle = rounds / 2
        for round in 0..<rounds {
            order.shuffle(using: &rng)
            for i in order {
                if i % 13 == 0 && round == rounds - 1 { try store.removeValue(forKey: "key-\(i)"); continue }
                if i % 7 == 0 && round == middle { try store.removeValue(forKey: "key-\(i)"); continue }
                try store.set("v\(round)-\(i)", forKey: "key-\(i)")
            }
        }
        try store.close()
    } catch {
        fail("filling the store failed: \(error)")
    }
    let live: Int
    let rebuild: (base: Int, peak: Int), verify: (base: Int, peak: Int)
    do {
        rebuild = try sampled { _ = try Store.rebuildIndex(at: directory) }
        let store = try Store(path: directory)
        live = try store.statistics.keys
        verify = try sampled {
            let report = try store.verify()
            if !report.isOK { fail("verify found problems: \(report.problems)") }
        }
        try store.close()
    } catch {
        fail("rebuilding or verifying failed: \(error)")
    }
    var line = "LIVE \(live) BASE \(rebuild.base) PEAK \(rebuild.peak) VERIFYBASE \(verify.base) VERIFYPEAK \(verify.peak)\n"
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    exit(0)
}
