// kvstore-crash-child --scripted-writer STORE_DIR
//
// A writer that keeps a store open while `kvtool` reads it (Tests/KVToolTests/LiveStoreTests).
// It opens the store for writing (creating it if needed) with 64 KiB segments and no automatic
// compaction, prints `open <pid>`, then runs one command per line of stdin and answers each with
// one line on stdout:
//
//   set KEY VALUE   sets KEY to VALUE (the rest of the line)                      -> ok
//   remove KEY      removes KEY                                                   -> ok
//   fill N          sets fill-0000 ... to "fill value <i> " and filler, 100 bytes   -> ok
//   settle          waits until every segment but the newest has its hint file,
//                   that is until they are all sealed and durable                -> ok
//   churn start     starts a thread that overwrites churn-000 ... churn-199 and compacts
//                   (low thresholds) every 500 writes, until `churn stop`         -> ok
//   churn stop      stops it and waits for it                                     -> ok <writes> <compactions>
//
// At `close` or the end of stdin it closes the store, prints `closed` and exits 0. Exits 75
// (printing `locked`) when the store is locked, 1 on any other error.

import KVStore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One line on stdout, written at once (no buffer between the writer and the test that waits).
private func say(_ line: String) {
    var line = line + "\n"
    line.withUTF8 { buffer in
        var done = 0
        while done < buffer.count {
            let n = write(1, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { exit(1) }
            done += n
        }
    }
}

/// The background writer of `churn start`.
private final class Churn: Sendable {
    let store: Store
    let stop = Atomic<Bool>(false)
    let writes = Atomic<Int>(0)
    let compactions = Atomic<Int>(0)

    init(store: Store) { self.store = store }

    func run() {
        var options = Store.CompactionOptions()
        options.minimumDeadRatio = 0.3
        options.minimumDeadBytes = 0
        var i = 0
        while !stop.load(ordering: .relaxed) {
            let k = i % 200
            let key = "churn-" + String(repeating: "0", count: max(0, 3 - String(k).count)) + String(k)
            var value = Array("churn \(k) write \(i) ".utf8)
            value += [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: max(0, 100 - value.count))
            do {
                try store.set(value, forKey: Array(key.utf8))
                i += 1
                writes.add(1, ordering: .relaxed)
                if i % 500 == 0 {
                    _ = try store.compact(options)
                    compactions.add(1, ordering: .relaxed)
                }
            } catch {
                fail("churn write \(i) failed: \(error)")
            }
            // A few hundred thousand writes a second would only fill the disk faster.
            if i % 20 == 0 { usleep(200) }
        }
    }
}

/// Whether every segment of `directory` but the newest has a hint file.
private func everySealedSegmentIsHinted(_ directory: String) -> Bool {
    guard let dir = opendir(directory) else { return false }
    defer { closedir(dir) }
    var segments: [String] = [], hints = Set<String>()
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name.hasSuffix(".seg") { segments.append(String(name.dropLast(4))) }
        if name.hasSuffix(".hint") { hints.insert(String(name.dropLast(5))) }
    }
    return segments.sorted().dropLast().allSatisfy(hints.contains)
}

func runScriptedWriter(_ arguments: [String]) -> Never {
    guard arguments.count == 1 else { fail("usage: kvstore-crash-child --scripted-writer STORE_DIR") }
    let directory = arguments[0]
    var configuration = Store.Configuration()
    configuration.segmentSize = 64 << 10
    configuration.automaticCompaction = nil
    let store: Store
    do {
        store = try Store(path: directory, configuration: configuration)
    } catch let error as KVError where error.code == .locked {
        say("locked")
        exit(75)
    } catch {
        fail("opening the store failed: \(error)")
    }
    say("open \(getpid())")
    var churn: (worker: Churn, thread: pthread_t)?
    func stopChurn() -> (writes: Int, compactions: Int) {
        guard let (worker, thread) = churn else { return (0, 0) }
        worker.stop.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
        churn = nil
        return (worker.writes.load(ordering: .relaxed), worker.compactions.load(ordering: .relaxed))
    }
    commands: while let line = readLine() {
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        do {
            switch (words.first ?? "", words.count) {
            case ("set", 3):
                try store.set(words[2], forKey: words[1])
                say("ok")
            case ("remove", 2):
                _ = try store.removeValue(forKey: words[1])
                say("ok")
            case ("fill", 2):
                guard let n = Int(words[1]) else { fail("fill wants a number: \(line)") }
                for i in 0..<n {
                    let digits = String(i)
                    var value = Array("fill value \(i) ".utf8)
                    value += [UInt8](repeating: UInt8(i % 251), count: max(0, 100 - value.count))
                    try store.set(value, forKey: Array(("fill-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits).utf8))
                }
                say("ok")
            case ("settle", 1):
                var waited = 0
                while !everySealedSegmentIsHinted(directory) {
                    if waited > 60_000 { fail("sealed segments got no hint files in a minute") }
                    usleep(5_000)
                    waited += 5
                }
                say("ok")
            case ("churn", 2) where words[1] == "start" && churn == nil:
                let worker = Churn(store: store)
                var thread = pthread_t()
                let context = Unmanaged.passRetained(worker).toOpaque()
                let started = pthread_create(&thread, nil, { context in
                    Unmanaged<Churn>.fromOpaque(context!).takeRetainedValue().run()
                    return nil
                }, context)
                guard started == 0 else { fail("pthread_create failed: \(started)") }
                churn = (worker, thread)
                say("ok")
            case ("churn", 2) where words[1] == "stop":
                let (writes, compactions) = stopChurn()
                say("ok \(writes) \(compactions)")
            case ("close", 1):
                break commands
            default:
                fail("unknown command: \(line)")
            }
        } catch {
            fail("\(line) failed: \(error)")
        }
    }
    _ = stopChurn()
    do { try store.close() } catch { fail("close failed: \(error)") }
    say("closed")
    exit(0)
}
