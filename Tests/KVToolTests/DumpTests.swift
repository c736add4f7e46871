import Foundation
import Testing

@Suite struct DumpTests {
    /// Three puts: records at 32 ("one", 40 bytes), 72 ("two", 40 bytes), 112 ("three", 48 bytes); end at 160.
    private func makeStore(_ path: String) throws -> String {
        try Fixtures.makeStore(path) { s in
            try s.set("1111", forKey: "one")
            try s.set("2222", forKey: "two")
            try s.set("3333", forKey: "three")
        }
        return path + "/00000001.seg"
    }

    @Test func listsEveryRecord() throws {
        let dir = try TemporaryDirectory()
        let segment = try makeStore(dir.sub("s"))
        let before = DirectorySnapshot(dir.sub("s"))
        let run = try KVTool.run("dump", segment)
        #expect(run.status == 0)
        #expect(run.stderr == "")
        #expect(run.lines.count == 6)
        #expect(run.lines[0].hasPrefix("\(segment): segment 1, store 0x"))
        #expect(run.lines[1] == "        32  put    seq=1 key=one klen=3 vlen=4 crc=ok")
        #expect(run.lines[2] == "        72  put    seq=2 key=two klen=3 vlen=4 crc=ok")
        #expect(run.lines[3] == "       112  put    seq=3 key=three klen=5 vlen=4 crc=ok")
        #expect(run.lines[4] == "       160  end")
        #expect(run.lines[5] == "3 records, 0 damaged regions (0 bytes)")
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func resynchronizesAfterABadChecksum() throws {
        let dir = try TemporaryDirectory()
        let segment = try makeStore(dir.sub("s"))
        try Fixtures.flipByte(segment, at: 72 + 32 + 3 + 1)  // a byte of "2222"
        let before = DirectorySnapshot(dir.sub("s"))
        let run = try KVTool.run("dump", segment)
        #expect(run.status == 1)
        #expect(run.lines[2] == "        72  DAMAGED checksum mismatch; 40 bytes skipped to 112 (header says: put seq=2 key=two klen=3 vlen=4 stored=4)")
        #expect(run.lines[3] == "       112  put    seq=3 key=three klen=5 vlen=4 crc=ok")
        #expect(run.lines.last == "2 records, 1 damaged region (40 bytes)")
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }

    @Test func resynchronizesAfterADamagedHeader() throws {
        let dir = try TemporaryDirectory()
        let segment = try makeStore(dir.sub("s"))
        try Fixtures.overwrite(segment, at: 72 + 4, with: [0xEE])  // the kind byte
        try Fixtures.overwrite(segment, at: 72 + 16, with: [0xFF, 0xFF, 0xFF, 0x7F])  // and a wild key length
        let run = try KVTool.run("dump", segment, "--format", "json")
        #expect(run.status == 1)
        let events = run.jsonLines
        #expect(events.map { $0["event"] as? String } == ["header", "record", "damaged", "record", "end"])
        #expect(events[2]["offset"] as? Int == 72)
        #expect(events[2]["length"] as? Int == 40)
        #expect(events[2]["reason"] as? String == "unknown record kind")
        #expect(events[3]["key"] as? String == "three")
        #expect(events[4]["damagedRegions"] as? Int == 1)
    }

    @Test func damageRunningToTheEndIsReportedOnce() throws {
        let dir = try TemporaryDirectory()
        let segment = try makeStore(dir.sub("s"))
        try Fixtures.flipByte(segment, at: 112 + 32 + 2)  // the last record
        let run = try KVTool.run("dump", segment)
        #expect(run.status == 1)
        #expect(run.lines[3].hasPrefix("       112  DAMAGED checksum mismatch; 48 bytes skipped to 160"))
        #expect(run.lines[4] == "       160  end")
    }

    @Test func marksAnUncommittedBatch() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.makeStore(dir.sub("s")) { s in
            try s.set("x", forKey: "first")
            try s.write { batch in
                batch.set("1", forKey: "a")
                batch.set("2", forKey: "b")
            }
        }
        let segment = dir.sub("s") + "/00000001.seg"
        let committed = try KVTool.run("dump", segment)
        #expect(committed.status == 0)
        #expect(committed.lines.contains { $0.hasSuffix("batch  seq=2 count=2 crc=ok") })
        #expect(committed.lines.contains { $0.contains("key=a klen=1 vlen=1 batch crc=ok") })
        // Zero the batch record's commit word, as if the writer died before storing it.
        let batchOffset = try KVTool.run("dump", segment, "--format", "json").jsonLines.first { $0["kind"] as? String == "batch" }?["offset"] as? Int
        try Fixtures.overwrite(segment, at: try #require(batchOffset), with: [UInt8](repeating: 0, count: 8))
        let run = try KVTool.run("dump", segment)
        #expect(run.status == 0)
        #expect(run.lines.contains { $0.contains("batch  seq=2 count=2 UNCOMMITTED") })
        #expect(run.lines.contains { $0.contains("key=a klen=1 vlen=1 UNCOMMITTED crc=ok") })
        #expect(run.lines.contains { $0.contains("key=b klen=1 vlen=1 UNCOMMITTED crc=ok") })
    }

    @Test func refusesWhatItCannotRead() throws {
        let dir = try TemporaryDirectory()
        let segment = try makeStore(dir.sub("s"))

        let missing = try KVTool.run("dump", dir.sub("nope.seg"))
        #expect(missing.status == 66)
        #expect(missing.stderr == "kvtool: \(dir.sub("nope.seg")): no such file\n")

        let directory = try KVTool.run("dump", dir.sub("s"))
        #expect(directory.status == 66)

        try Data("just some text, certainly not a segment file\n".utf8).write(to: URL(fileURLWithPath: dir.sub("text")))
        let text = try KVTool.run("dump", dir.sub("text"))
        #expect(text.status == 65)
        #expect(text.stderr == "kvtool: \(dir.sub("text")): not a segment file (bad magic); use --force to read it anyway\n")
        let forced = try KVTool.run("dump", dir.sub("text"), "--force")
        #expect(forced.status == 1)
        #expect(forced.out.contains("DAMAGED segment header"))

        // A segment of a newer major version (with a valid header checksum).
        var bytes = Array(FileManager.default.contents(atPath: segment)!)
        bytes[8] = 2
        let crc = Fixtures.crc32c(bytes[0..<28])
        for i in 0..<4 { bytes[28 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let before = DirectorySnapshot(dir.sub("s"))
        let newer = try KVTool.run("dump", segment)
        #expect(newer.status == 65)
        #expect(newer.stderr == "kvtool: \(segment): segment has format version 2, this build reads 1; this kvtool is too old for it\n")
        #expect(DirectorySnapshot(dir.sub("s")) == before)
    }
}
