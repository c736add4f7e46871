import Foundation
import Testing

@Suite struct CompactTests {
    @Test func compactsDeadSegmentsAndKeepsEveryValue() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let expected = try Fixtures.contents(store)
        let run = try KVTool.run("compact", store, "--min-dead-bytes", "1K", "--min-fragmentation", "40")
        #expect(run.status == 0)
        #expect(run.stderr == "")
        let line = try #require(run.lines.last)
        #expect(line.hasPrefix("compacted "))
        #expect(line.contains(" segments: ") || line.contains(" segment: "))
        #expect(line.contains(" -> "))
        #expect(line.contains("(reclaimed "))
        #expect(line.hasSuffix(" records)"))
        #expect(!line.hasPrefix("compacted 0 "))
        #expect(try Fixtures.contents(store) == expected)
        #expect(try KVTool.run("verify", store).out == "OK\n")
    }

    @Test func dryRunSaysWhatItWouldDo() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let segments = Fixtures.segments(store).map { DirectorySnapshot(store).files[($0 as NSString).lastPathComponent]! }
        let run = try KVTool.run("compact", store, "--dry-run", "--min-dead-bytes", "1K")
        #expect(run.status == 0)
        #expect(run.lines.first?.hasPrefix("00000001.seg: compact: ") == true)
        #expect(run.lines.last?.hasPrefix("would compact ") == true)
        #expect(Fixtures.segments(store).map { DirectorySnapshot(store).files[($0 as NSString).lastPathComponent]! } == segments)
        let json = try KVTool.run("compact", store, "--dry-run", "--min-dead-bytes", "1K", "--format", "json").json
        #expect(json["dryRun"] as? Bool == true)
        #expect((json["segments"] as? [[String: Any]])?.first?["compacted"] as? Bool == true)
    }

    @Test func badThresholdsAreUsageErrors() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeOverwrittenStore(dir.sub("s"), count: 10)
        #expect(try KVTool.run("compact", dir.sub("s"), "--min-fragmentation", "150").status == 64)
        #expect(try KVTool.run("compact", dir.sub("s"), "--min-dead-bytes", "lots").status == 64)
    }
}
