@testable import KVStore
import Foundation
import Testing

/// A store keeps a bounded set of segment descriptors open: one of more segments than the process
/// may open files opens, reads and writes under a low `ulimit -n`, and running out of descriptors
/// loses nothing (issue 7, item 11). The limits are set in a child process (`kvstore-crash-child
/// --under-fd-limit`), never in the test process.
@Suite("Reliability: descriptor limits")
struct DescriptorLimitTests {
    static func run(_ child: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: child)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func storeOfMoreSegmentsThanTheDescriptorLimitOpensAndReads() throws {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        try withScratchDirectory { directory in
            var configuration = TestStores.configuration(segmentSize: 64 << 10)
            configuration.automaticCompaction = nil
            let store = try Store(path: directory, configuration: configuration)
            let keys = 25_000
            let filler = [UInt8](repeating: 0x2E, count: 3_000)
            // Every segment holds live values: reading them all cycles through every descriptor.
            for i in 0..<keys { try store.set(Array("value \(i) ".utf8) + filler, forKey: Array("key \(i)".utf8)) }
            try store.close()
            #expect(try FileSurgery.segmentNames(in: directory).count > 1_000)
            for mode in ["readonly", "read"] {
                let result = try Self.run(child, ["--under-fd-limit", "256", directory, String(keys), mode])
                #expect(result.status == 0, "\(mode) under ulimit -n 256 failed")
            }
            let reopened = try Store(path: directory, configuration: configuration)
            #expect(try reopened.value(forKey: "new 99") == Array("new 99".utf8))
            #expect(reopened.recoveryReport.indexTrust == .clean)
            try reopened.close()
        }
    }

    @Test func runningOutOfDescriptorsLosesNoAcknowledgedWriteAndCloseStillWorks() throws {
        let child = try #require(CrashChildProcess.locate(), "kvstore-crash-child was not found next to the test binary")
        try withScratchDirectory { directory in
            let result = try Self.run(child, ["--under-fd-limit", "64", directory, "0", "exhaust"])
            #expect(result.status == 0)
            let lines = result.output.split(separator: "\n")
            let acknowledged = lines.compactMap { $0.hasPrefix("A ") ? Int($0.dropFirst(2)) : nil }
            #expect(acknowledged.count > 200)
            #expect(lines.last == "CLOSE ok", "\(lines.last ?? "")")
            var configuration = TestStores.configuration(segmentSize: 64 << 10)
            configuration.automaticCompaction = nil
            let store = try Store(path: directory, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            let lost = try acknowledged.filter { try store.value(forKey: Array("x \($0)".utf8)) != [UInt8](repeating: UInt8($0 & 0xFF), count: 1000) }
            #expect(lost.isEmpty, "\(lost.count) acknowledged writes lost")
            #expect(try store.verify().isOK)
            try store.close()
        }
    }
}
