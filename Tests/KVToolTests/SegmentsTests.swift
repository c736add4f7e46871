import Foundation
import Testing

@Suite struct SegmentsTests {
    @Test func oneRowPerSegmentWithTheActiveOneLast() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let files = Fixtures.segments(store)
        #expect(files.count > 2)
        let before = DirectorySnapshot(store)
        let run = try KVTool.run("segments", store)
        #expect(run.status == 0)
        #expect(run.stderr == "")
        #expect(run.lines.count == files.count + 1)
        #expect(run.lines[0].hasPrefix("ID  FILE"))
        #expect(run.lines[0].contains("DEAD BYTES"))
        #expect(run.lines.last?.hasSuffix("active") == true)
        #expect(run.lines.dropFirst().dropLast().allSatisfy { $0.hasSuffix("sealed") })
        #expect(run.lines[1].contains("00000001.seg"))
        #expect(DirectorySnapshot(store) == before)
    }

    @Test func jsonRowsAddUpToTheLiveKeys() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        let rows = try KVTool.run("segments", store, "--format", "json").jsonLines
        #expect(rows.count == Fixtures.segments(store).count)
        #expect(rows.reduce(0) { $0 + ($1["live"] as? Int ?? 0) } == 600)
        #expect(rows.reduce(0) { $0 + ($1["records"] as? Int ?? 0) } == 1200)
        for row in rows {
            let size = row["size"] as? Int ?? -1, live = row["liveBytes"] as? Int ?? -1, dead = row["deadBytes"] as? Int ?? -1
            #expect(live + dead == size)
            #expect(row["compressedShare"] as? Double == 0)
        }
        // The first segment holds only first-round values, all overwritten since.
        #expect(rows.first?["live"] as? Int == 0)
        #expect(rows.first?["fragmentation"] as? Double == 1)
        #expect(rows.map { $0["state"] as? String }.last == "active")
    }

    @Test func aDamagedSegmentStillCountsItsIntactRecords() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let first = try Fixtures.makeDamagedStore(store, count: 1500)
        let intact = try Fixtures.intactRecords(store)
        let run = try KVTool.run("segments", store, "--format", "json")
        #expect(run.status == 0)
        #expect(run.stderr.contains("kvtool: warning: \(first) @32: checksum mismatch (136 bytes skipped)"), "\(run.stderr)")
        #expect(run.stderr.contains("`kvtool salvage \(store) --output DIR`"), "\(run.stderr)")
        let rows = run.jsonLines
        #expect(rows.map { $0["records"] as? Int ?? -1 } == intact)
        #expect(rows.map { $0["live"] as? Int ?? -1 } == intact)
        #expect(rows.map { $0["damaged"] as? Bool } == intact.indices.map { $0 < 2 })
        #expect((rows.first?["fragmentation"] as? Double ?? 1) < 0.1)
        let text = try KVTool.run("segments", store)
        #expect(text.lines[1].hasSuffix("sealed,damaged"))
        #expect(!text.lines[1].contains("100.0%"))
    }

    @Test func listsSegmentFilesTheStoreDoesNotRead() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        try Fixtures.makeOverwrittenStore(store, count: 600)
        try Data("not a segment".utf8).write(to: URL(fileURLWithPath: store + "/00000001.seg.lost"))
        let run = try KVTool.run("segments", store)
        #expect(run.status == 0)
        #expect(run.lines.last?.contains("00000001.seg.lost") == true)
        #expect(run.lines.last?.hasSuffix("SET-ASIDE") == true)
    }
}
