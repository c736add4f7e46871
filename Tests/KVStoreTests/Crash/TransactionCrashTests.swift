@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Kills a real process (`kvstore-crash-child --counter`) with SIGKILL in the middle of its
/// read-modify-write transactions, again and again on one store: every transaction is all or
/// nothing, and none that returned is lost.
@Suite("Crash: kill -9 in a transaction")
struct TransactionCrashTests {
    @Test func killedTransactionIsAllOrNothing() throws {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        var rng = SplitMix64(seed: testSeed())
        try withTemporaryDirectory { dir in
            let store = dir + "/s"
            var acknowledged = 0
            for round in 0..<30 {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: child)
                process.arguments = ["--counter", store]
                let output = Pipe()
                process.standardOutput = output
                process.standardError = FileHandle.nullDevice
                try process.run()
                usleep(UInt32(Int.random(in: 5_000...80_000, using: &rng)))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                for line in text.split(separator: "\n") where line.hasPrefix("A ") {
                    acknowledged = max(acknowledged, Int(line.dropFirst(2)) ?? 0)
                }
                let reopened = try Store(path: store)
                let counter = Int(try reopened.string(forKey: "counter") ?? "0")!
                #expect(counter >= acknowledged, "round \(round): counter \(counter), but \(acknowledged) transactions returned")
                // All or nothing: the counter and the log agree, one entry per increment, none beyond.
                for n in Swift.stride(from: max(1, counter - 50), through: counter, by: 1) {
                    #expect(try reopened.string(forKey: "log-\(n)") == "entry \(n)", "round \(round): log-\(n) missing at counter \(counter)")
                }
                #expect(try reopened.value(forKey: "log-\(counter + 1)") == nil, "round \(round): a log entry beyond the counter")
                try reopened.close()
                acknowledged = counter
            }
            #expect(acknowledged > 30, "the children got some transactions done")
        }
    }
}
