@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Kills a real process (`kvstore-crash-child --backup`) with SIGKILL at random moments while it
/// backs a store up into a directory that holds the previous backup, over and over: after every
/// kill the target opens, and holds exactly the old backup or the new one (FORMAT.md §14).
@Suite("Crash: kill -9 of a backup")
struct BackupCrashTests {
    static let kills = 100

    @Test func killedBackupLeavesTheOldBackupOrTheNewOne() throws {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        var rng = SplitMix64(seed: testSeed())
        try withTemporaryDirectory { dir in
            let source = dir + "/s", target = dir + "/b"
            var configuration = Store.Configuration()
            configuration.segmentSize = 64 << 10
            configuration.automaticCompaction = nil
            var model: [String: [UInt8]] = [:]
            func update(round: Int) throws {
                let store = try Store(path: source, configuration: configuration)
                defer { try? store.close() }
                for _ in 0..<(round == 0 ? 1_500 : 150) {
                    let k = "key-\(Int.random(in: 0..<1_500, using: &rng))"
                    if Int.random(in: 0..<10, using: &rng) == 0 {
                        try store.removeValue(forKey: k)
                        model[k] = nil
                    } else {
                        let v = Array("round \(round) \(k) ".utf8) + [UInt8](repeating: UInt8(round & 0xFF), count: Int.random(in: 0...120, using: &rng))
                        try store.set(v, forKey: k)
                        model[k] = v
                    }
                }
                try store.set(Array(String(round).utf8), forKey: "round")
                model["round"] = Array(String(round).utf8)
                if round % 10 == 9 {
                    var options = Store.CompactionOptions()
                    options.minimumDeadBytes = 1
                    options.minimumDeadRatio = 0.2
                    _ = try store.compact(options)
                }
            }
            func contents(of path: String) throws -> [String: [UInt8]] {
                var readOnly = configuration
                readOnly.readOnly = true
                let store = try Store(path: path, configuration: readOnly)
                defer { try? store.close() }
                var all: [String: [UInt8]] = [:]
                var cursor = try store.entries()
                while let (k, v) = try cursor.next() { all[String(decoding: k, as: UTF8.self)] = v }
                return all
            }
            try update(round: 0)
            try Store(path: source, configuration: configuration).backup(to: target)
            var backedUp = model
            var completed = 0, killed = 0, keptOld = 0, midway = 0
            for round in 1...Self.kills {
                try update(round: round)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: child)
                process.arguments = ["--backup", source, target, Bool.random(using: &rng) ? "writer" : "read-only"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                usleep(UInt32(Int.random(in: 0...40_000, using: &rng)))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                if process.terminationReason == .exit {
                    #expect(process.terminationStatus == 0, "round \(round): the backup failed on its own")
                    completed += 1
                } else {
                    killed += 1
                    // A staging directory left behind: the kill came while a backup was assembled.
                    if FileManager.default.fileExists(atPath: dir + "/.b.kvbackup") { midway += 1 }
                }
                let found = try contents(of: target)
                if found == model {
                    backedUp = model
                } else {
                    #expect(process.terminationReason != .exit, "round \(round): a backup that returned must be the new one")
                    let seen = String(decoding: found["round"] ?? [], as: UTF8.self)
                    #expect(found == backedUp, "round \(round): the target is neither the old backup nor the new one (round \(seen), \(found.count) keys)")
                    if found != backedUp { return }
                    keptOld += 1
                }
            }
            print("backup kill -9: \(killed) killed (\(keptOld) of them before the swap, \(midway) while a backup was assembled), \(completed) completed")
            #expect(midway >= 10, "kills must land while backups are being assembled: \(midway)")
            #expect(killed >= Self.kills / 2, "most children must be killed, not finish: \(killed) of \(Self.kills)")
            #expect(keptOld > 0, "some kills must land before the new backup was swapped in")
            // The last backup still works as an incremental one and a store of its own.
            let store = try Store(path: source, configuration: configuration)
            let report = try store.backup(to: target)
            try store.close()
            #expect(report.incremental)
            #expect(try contents(of: target) == model)
        }
    }
}
