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

    /// A dry run opens the store read-only: not a byte changes, also in a store left as a crash
    /// leaves it (a copy of an open store), which an open for writing would recover.
    @Test func dryRunChangesNoByteOfTheStore() throws {
        let dir = try TemporaryDirectory()
        let clean = dir.sub("clean"), crashed = dir.sub("crashed")
        try Fixtures.makeOverwrittenStore(clean, count: 600)
        let open = try KVStoreHandle(path: dir.sub("open"))
        try open.fill()
        try Fixtures.copyFiles(from: dir.sub("open"), to: crashed)
        open.close()
        for store in [clean, crashed] {
            let before = DirectorySnapshot(store)
            for format in ["text", "json"] {
                let run = try KVTool.run("compact", store, "--dry-run", "--min-dead-bytes", "1K", "--format", format)
                #expect(run.status == 0, "\(store) \(format): \(run.stderr)")
                #expect(run.stderr == "")
                #expect(DirectorySnapshot(store) == before, "\(store) \(format)")
            }
        }
    }

    /// ...so it needs no permission to write: it works where its user may only read (the directory
    /// mode 555, the files owned by another user when the tests run as root).
    @Test(.enabled(if: KVTool.canRunUnprivileged, "needs setpriv(1) to drop root's privileges"))
    func dryRunWorksOnAStoreInAReadOnlyDirectory() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let before = DirectorySnapshot(store)
        #expect(chmod(dir.path, 0o755) == 0)
        #expect(chmod(store, 0o555) == 0)
        defer { chmod(store, 0o755) }
        let run = try KVTool.runUnprivileged(["compact", store, "--dry-run", "--min-dead-bytes", "1K"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr == "")
        #expect(run.lines.first?.hasPrefix("00000001.seg: compact: ") == true)
        #expect(run.lines.last?.hasPrefix("would compact ") == true)
        #expect(DirectorySnapshot(store) == before)
        if geteuid() == 0 {
            // The control: a real compaction, which must write, is refused to the same user.
            #expect(try KVTool.runUnprivileged(["compact", store, "--min-dead-bytes", "1K"]).status != 0)
            #expect(DirectorySnapshot(store) == before)
        }
    }

    @Test func dryRunSummaryCountsWhatWouldBeCompacted() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let thresholds = ["--min-dead-bytes", "1K", "--min-fragmentation", "40"]
        let text = try KVTool.run(["compact", store, "--dry-run"] + thresholds)
        #expect(text.status == 0)
        let chosen = text.lines.filter { $0.contains(": compact: ") }.count
        #expect(chosen > 0)
        let summary = try #require(text.lines.last)
        #expect(summary.hasPrefix("would compact \(chosen) segment\(chosen == 1 ? "" : "s"): "), "\(summary)")
        #expect(!summary.contains(": 0 B -> "), "\(summary)")
        #expect(summary.contains(" -> about ") && summary.contains("(would reclaim about "), "\(summary)")

        let json = try KVTool.run(["compact", store, "--dry-run", "--format", "json"] + thresholds).json
        let segments = (json["segments"] as? [[String: Any]] ?? []).filter { $0["compacted"] as? Bool == true }
        #expect(json["segmentsCompacted"] as? Int == chosen)
        #expect(segments.count == chosen)
        let before = segments.reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) }
        let live = segments.reduce(0) { $0 + ($1["liveBytes"] as? Int ?? 0) }
        #expect(before > 0)
        #expect(json["bytesBefore"] as? Int == before)
        #expect(json["bytesAfter"] as? Int == live)
        #expect(json["reclaimedBytes"] as? Int == before - live)
        #expect(json["estimated"] as? Bool == true)
        #expect(json["recordsCopied"] is NSNull)

        // The real run does what the dry run said.
        let real = try KVTool.run(["compact", store, "--format", "json"] + thresholds).json
        #expect(real["segmentsCompacted"] as? Int == chosen)
        #expect(real["bytesBefore"] as? Int == before)
        #expect(real["estimated"] as? Bool == false)
    }

    @Test func badThresholdsAreUsageErrors() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeOverwrittenStore(dir.sub("s"), count: 10)
        #expect(try KVTool.run("compact", dir.sub("s"), "--min-fragmentation", "150").status == 64)
        #expect(try KVTool.run("compact", dir.sub("s"), "--min-dead-bytes", "lots").status == 64)
    }
}
