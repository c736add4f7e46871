// kvstore-crash-child --live-writer STORE_DIR ORACLE_FILE SEED KEYS [--active N] [--ops N] [--stop FILE]
//                      [--lz4] [--compact [--until-compacted]]
//
// Opens STORE_DIR for writing (64 KiB segments, automatic compaction at low thresholds, no
// expectedKeyCount, so that segments roll, get compacted and the index grows) and does operations
// on the keys k0..k<N-1> (N = --active, default KEYS) until it is killed, --ops operations are done,
// or FILE (--stop) exists. Each operation is a put or a removal of the next version of one key, or a
// batch of 2 or 3 distinct keys (see LiveProtocol.swift); after it returns, the version of each key
// it touched is stored in the oracle.
//
// With --compact, a second thread also compacts over and over (a writer killed within a few hundred
// milliseconds rarely gets to an automatic compaction). With --until-compacted the writer stops as
// soon as that thread has finished one compaction: a compaction deletes its segments only at its
// end, so a writer killed every few hundred milliseconds never finishes one once there is a backlog.
//
// Prints "W open <indexTrust>" once open and, when it stops by itself, closes the store and prints
// "W done ops=<n> segments=<n> keys=<n> compactions=<n> compacted=<segments deleted>". Exits 75
// when the open fails with .locked, 1 on any other error.

import KVStore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func runLiveWriter(_ arguments: ArraySlice<String>) -> Never {
    let parsed = LiveArguments(arguments, flags: ["--lz4", "--compact", "--until-compacted"])
    guard parsed.positional.count == 4, let seed = UInt64(parsed.positional[2]), let keys = Int(parsed.positional[3]), keys > 0 else {
        fail("usage: --live-writer STORE_DIR ORACLE_FILE SEED KEYS [--active N] [--ops N] [--stop FILE] [--lz4] [--compact [--until-compacted]]")
    }
    let active = min(keys, max(1, parsed.int("--active") ?? keys))
    let limit = parsed.int("--ops")
    let stop = parsed.options["--stop"]
    let untilCompacted = parsed.options["--until-compacted"] != nil
    let oracle = LiveOracle(path: parsed.positional[1], keys: keys, writable: true)

    var configuration = Store.Configuration()
    configuration.segmentSize = 64 << 10
    configuration.compression = parsed.options["--lz4"] != nil ? .lz4 : .none
    configuration.durability = .process
    var compaction = Store.CompactionOptions()
    compaction.minimumDeadRatio = 0.3
    compaction.minimumDeadBytes = 8 << 10
    compaction.maximumBytesPerSecond = nil
    configuration.automaticCompaction = compaction

    let store: Store
    do {
        store = try Store(path: parsed.positional[0], configuration: configuration)
    } catch let error as KVError where error.code == .locked {
        var text = "kvstore-crash-child: the writer's open failed: \(error)\n"
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        exit(75)
    } catch {
        fail("the writer's open failed: \(error)")
    }
    liveSay("W open \(store.recoveryReport.indexTrust)")
    if parsed.options["--compact"] != nil {
        var thread = pthread_t()
        pthread_create(&thread, nil, compactContinuously, Unmanaged.passRetained(store).toOpaque())
    }

    var rng = SplitMix64(state: seed)
    var ops = 0
    do {
        while true {
            if let limit, ops >= limit { break }
            if let stop, ops % 32 == 0, access(stop, F_OK) == 0 { break }
            if untilCompacted, compactions.load(ordering: .acquiring) > 0 { break }
            let r = rng.next() % 100
            let count = r < 75 ? 1 : r < 90 ? 2 : 3
            var members: [(key: Int, version: UInt64)] = []
            while members.count < min(count, active) {
                let k = liveRandomKey(&rng, active: active)
                if !members.contains(where: { $0.key == k }) { members.append((k, oracle.load(k) + 1)) }
            }
            if members.count == 1 {
                let (k, v) = members[0]
                if LiveValues.isRemoval(v) {
                    _ = try store.removeValue(forKey: LiveValues.key(k))
                } else {
                    try store.set(LiveValues.value(key: k, version: v), forKey: LiveValues.key(k))
                }
            } else {
                try store.write { batch in
                    for (k, v) in members {
                        if LiveValues.isRemoval(v) {
                            batch.removeValue(forKey: LiveValues.key(k))
                        } else {
                            batch.set(LiveValues.value(key: k, version: v), forKey: LiveValues.key(k))
                        }
                    }
                }
            }
            // Acknowledged: the call returned.
            for (k, v) in members { oracle.store(k, v) }
            ops += 1
        }
        let statistics = try store.statistics
        try store.close()
        liveSay("W done ops=\(ops) segments=\(statistics.segments) keys=\(statistics.keys) compactions=\(compactions.load(ordering: .acquiring)) compacted=\(compactedSegments.load(ordering: .acquiring))")
        exit(0)
    } catch {
        fail("the writer's operation \(ops + 1) failed: \(error)")
    }
}

/// Compactions run by --compact's thread, and the segments they deleted.
private let compactions = Atomic<Int>(0)
private let compactedSegments = Atomic<Int>(0)

/// The body of --compact's thread: compacts at low thresholds until the store is closed.
private func compactContinuously(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let store = Unmanaged<Store>.fromOpaque(context!).takeRetainedValue()
    var options = Store.CompactionOptions()
    options.minimumDeadRatio = 0.3
    options.minimumDeadBytes = 8 << 10
    while true {
        do {
            let report = try store.compact(options)
            compactedSegments.add(report.segmentsCompacted, ordering: .relaxed)
            compactions.add(1, ordering: .releasing)
        } catch let error as KVError where error.code == .closed {
            return nil
        } catch {
            fail("compaction failed: \(error)")
        }
        usleep(2_000)
    }
}
