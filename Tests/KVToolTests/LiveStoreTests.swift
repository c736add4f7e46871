import Foundation
import Testing

/// The read commands against a store that a real writer in another process has open and writes
/// to: they work, see what it wrote, say that the store is live and name the writer; and a read
/// command that is still running never keeps the application out.
@Suite struct LiveStoreTests {
    /// `fill-0000`, `fill-0001`…
    static func fillKey(_ i: Int) -> String { "fill-" + String(repeating: "0", count: max(0, 4 - String(i).count)) + String(i) }

    static func note(_ store: String, _ pid: Int32, _ caveat: String) -> String {
        "kvtool: note: \(store): live (writer pid \(pid)): \(caveat)\n"
    }

    @Test func statSaysTheStoreIsLiveAndNamesTheWriter() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let writer = try LiveWriter(store: store)
        try writer.send("fill 600")
        try writer.set("greeting", "hello")

        let run = try KVTool.run("stat", store)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr == "")
        #expect(run.lines.prefix(2) == ["Store: \(store)", "  Access: live (writer pid \(writer.pid))"])
        #expect(run.lines.contains("Keys: 601 live"))
        #expect(run.lines.contains { $0.hasPrefix("Segments: ") && $0.hasSuffix(" (1 active, 1 sealed)") })

        let json = try KVTool.run("stat", store, "--scan", "--format", "json").json
        #expect(json["access"] as? String == "live")
        #expect(json["writerPID"] as? Int == Int(writer.pid))
        #expect(json["liveKeys"] as? Int == 601)
        #expect(json["activeSegments"] as? Int == 1)
        // The active segment counts up to the writer's last record, not its preallocated zeros.
        let live = json["liveBytes"] as? Int ?? -1, dead = json["deadBytes"] as? Int ?? -1
        #expect(live + dead == json["recordBytes"] as? Int)
        #expect(dead == 0)
        #expect((json["damage"] as? [Any])?.isEmpty == true)

        #expect(writer.close() == 0)
        let after = try KVTool.run("stat", store, "--format", "json").json
        #expect(after["access"] as? String == "live")
        #expect(after["writerPID"] is NSNull)
        #expect(try KVTool.run("stat", store).lines.contains("  Access: live (no writer)"))
    }

    @Test func getSeesWhatTheWriterSetBeforeItStarted() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let writer = try LiveWriter(store: store)
        defer { writer.close() }
        try writer.set("greeting", "hello")
        let first = try KVTool.run("get", store, "greeting")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.out == "hello")
        #expect(first.stderr == "")

        try writer.set("greeting", "hello again")
        #expect(try KVTool.run("get", store, "greeting").out == "hello again")
        try writer.send("remove greeting")
        let gone = try KVTool.run("get", store, "greeting")
        #expect(gone.status == 1)
        #expect(gone.out == "")
    }

    @Test func scanAndExportListEveryPairAndSayOnStderrThatTheStoreIsLive() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let writer = try LiveWriter(store: store)
        defer { writer.close() }
        try writer.send("fill 600")
        try writer.set("greeting", "hello")
        let expected = (0..<600).map(Self.fillKey) + ["greeting"]

        let scan = try KVTool.run("scan", store, "--keys-only")
        #expect(scan.status == 0, "\(scan.stderr)")
        #expect(scan.lines.sorted() == expected.sorted())
        #expect(scan.stderr == Self.note(store, writer.pid, "every pair it leaves alone is listed once; one it writes, "
                                         + "removes or compacts while the scan runs may be missed or listed twice"))
        let pairs = try KVTool.run("scan", store, "--prefix", "greeting")
        #expect(pairs.out == "greeting\thello\n")

        let export = try KVTool.run("export", store)
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.lines.count == 602)
        #expect(export.stderr == Self.note(store, writer.pid, "every pair it leaves alone is listed once; one it writes, "
                                           + "removes or compacts while the export runs may be missed or listed twice"))
        // What was exported is the data, header and pairs, and nothing else: it imports whole.
        let copy = dir.sub("copy")
        let imported = try KVTool.run(["import", copy, "-", "--create"], stdin: export.stdout)
        #expect(imported.status == 0, "\(imported.stderr)")
        let contents = try Fixtures.contents(copy)
        #expect(contents.count == 601)
        #expect(contents[Array("greeting".utf8)] == Array("hello".utf8))
        #expect(contents[Array(Self.fillKey(599).utf8)]?.starts(with: Array("fill value 599 ".utf8)) == true)
    }

    @Test func segmentsAndDumpStopAtTheWritersLastRecordInTheActiveSegment() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let writer = try LiveWriter(store: store)
        defer { writer.close() }
        try writer.send("fill 600")

        let segments = try KVTool.run("segments", store, "--format", "json")
        #expect(segments.status == 0, "\(segments.stderr)")
        #expect(segments.stderr == Self.note(store, writer.pid, "the rows are as of the listing: the writer appends to the "
                                             + "active segment, and may add segments and compact sealed ones meanwhile"))
        let rows = segments.jsonLines
        #expect(rows.map { $0["state"] as? String } == ["sealed", "active"])
        #expect(rows.reduce(0) { $0 + ($1["records"] as? Int ?? 0) } == 600)
        #expect(rows.allSatisfy { $0["damaged"] as? Bool == false })
        let active = try #require(rows.last)
        let activeSize = try #require(active["size"] as? Int)
        #expect(activeSize < active["fileBytes"] as? Int ?? 0, "the active segment is preallocated past its records")
        #expect(try KVTool.run("segments", store).lines.last?.hasSuffix("active") == true)

        let activeFile = store + "/" + (active["file"] as? String ?? "")
        let dump = try KVTool.run("dump", activeFile, "--format", "json")
        #expect(dump.status == 0, "\(dump.stderr)")
        let events = dump.jsonLines
        let header = try #require(events.first)
        #expect(header["access"] as? String == "live")
        #expect(header["writerPID"] as? Int == Int(writer.pid))
        #expect(header["state"] as? String == "active")
        #expect(header["recordsEnd"] as? Int == 32 + activeSize)
        #expect(events.filter { $0["event"] as? String == "record" }.count == active["records"] as? Int)
        #expect(events.last?["event"] as? String == "end")
        #expect(events.last?["offset"] as? Int == 32 + activeSize)
        #expect(events.last?["damagedRegions"] as? Int == 0)
        #expect(dump.stderr == "kvtool: note: \(activeFile): live (writer pid \(writer.pid)): its active segment: "
                + "listed up to offset \(32 + activeSize), where its records ended when dump began\n")

        let sealedFile = store + "/" + (rows.first?["file"] as? String ?? "")
        let sealed = try KVTool.run("dump", sealedFile)
        #expect(sealed.status == 0, "\(sealed.stderr)")
        #expect(sealed.lines.last == "\(rows.first?["records"] as? Int ?? 0) records, 0 damaged regions (0 bytes)")
        #expect(sealed.stderr == "kvtool: note: \(sealedFile): live (writer pid \(writer.pid)): a sealed segment: it no longer changes\n")
    }

    @Test func verifyChecksWhatWasSealedAndDurableWhenItBeganAndSaysSo() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let writer = try LiveWriter(store: store)
        try writer.send("fill 1500")  // 454 records fill a 64 KiB segment: 3 sealed, 1 active
        try writer.send("settle")

        let run = try KVTool.run("verify", store)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr == "")
        #expect(run.lines.count == 2)
        #expect(run.lines.first?.hasPrefix("live (writer pid \(writer.pid)): checked the 3 segments sealed and durable when verify began (1,362 records, ") == true)
        #expect(run.lines.first?.contains("; 1 segment left unchecked") == true)
        #expect(run.lines.last == "OK")

        let json = try KVTool.run("verify", store, "--format", "json").json
        #expect(json["ok"] as? Bool == true)
        #expect(json["checkedWhileWriting"] as? Bool == true)
        #expect(json["segments"] as? Int == 3)
        #expect(json["uncheckedSegments"] as? Int == 1)
        #expect(json["access"] as? String == "live")
        #expect(json["writerPID"] as? Int == Int(writer.pid))

        // Once the writer has closed the store, everything is checked.
        #expect(writer.close() == 0)
        let after = try KVTool.run("verify", store, "--format", "json").json
        #expect(after["checkedWhileWriting"] as? Bool == false)
        #expect(after["keys"] as? Int == 1500)
        #expect(try KVTool.run("verify", store).out == "OK\n")
    }

    @Test func verifyFindsDamageInASealedSegmentWhileTheWriterWrites() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let writer = try LiveWriter(store: store)
        defer { writer.close() }
        try writer.send("fill 1500")
        try writer.send("settle")
        let first = try #require(Fixtures.segments(store).first)
        try Fixtures.flipByte(first, at: 32 + 32 + 8 + 10)  // the value of its first record

        let run = try KVTool.run("verify", store)
        #expect(run.status == 1)
        #expect(run.lines.first?.hasPrefix("live (writer pid \(writer.pid)): checked the 3 segments") == true)
        #expect(run.lines.contains("\(first) @32: checksum mismatch"))
        #expect(run.lines.last?.hasSuffix(" found") == true)
    }

    /// Whatever the writer is doing at the moment each command reads (appending, rolling to a new
    /// segment, compacting and deleting sealed ones), no command fails or reports damage.
    @Test func readCommandsStayCorrectWhileTheWriterKeepsWritingAndCompacting() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let writer = try LiveWriter(store: store)
        defer { writer.close() }
        try writer.send("fill 600")
        try writer.send("churn start")
        let known = Set((0..<600).map(Self.fillKey) + (0..<200).map { "churn-" + String(repeating: "0", count: max(0, 3 - String($0).count)) + String($0) })
        for round in 0..<4 {
            let stat = try KVTool.run("stat", store, "--scan", "--format", "json")
            #expect(stat.status == 0, "round \(round): \(stat.stderr)")
            #expect(stat.stderr == "", "round \(round)")
            #expect(stat.json["writerPID"] as? Int == Int(writer.pid))
            #expect((stat.json["damage"] as? [Any])?.isEmpty == true, "round \(round): \(stat.out)")

            let segments = try KVTool.run("segments", store, "--format", "json")
            #expect(segments.status == 0, "round \(round): \(segments.stderr)")
            #expect(!segments.stderr.contains("warning"), "round \(round): \(segments.stderr)")
            #expect(segments.jsonLines.allSatisfy { ["sealed", "active"].contains($0["state"] as? String) && $0["damaged"] as? Bool == false },
                    "round \(round): \(segments.out)")
            #expect(segments.jsonLines.filter { $0["state"] as? String == "active" }.count == 1, "round \(round): \(segments.out)")

            let scan = try KVTool.run("scan", store, "--keys-only")
            #expect(scan.status == 0, "round \(round): \(scan.stderr)")
            #expect(Set(scan.lines).isSubset(of: known), "round \(round)")

            let get = try KVTool.run("get", store, Self.fillKey(7))
            #expect(get.status == 0, "round \(round): \(get.stderr)")
            #expect(get.stdout.starts(with: Array("fill value 7 ".utf8)), "round \(round)")

            let export = try KVTool.run("export", store)
            #expect(export.status == 0, "round \(round): \(export.stderr)")

            let verify = try KVTool.run("verify", store)
            #expect(verify.status == 0, "round \(round): \(verify.out)")
            #expect(verify.lines.last == "OK", "round \(round)")

            // The newest segment: the active one, or sealed since, or (rarely) already compacted away.
            if let newest = Fixtures.segments(store).last {
                let dump = try KVTool.run("dump", newest)
                #expect(dump.status == 0 || !FileManager.default.fileExists(atPath: newest), "round \(round): \(dump.out)")
            }
        }
        let stopped = try writer.send("churn stop").split(separator: " ")
        #expect(Int(stopped.last ?? "") ?? 0 > 0, "the writer compacted while the commands read")
    }

    /// The original complaint: a `kvtool scan` still printing (here: into a pipe nobody reads
    /// yet) made the application's open fail with `.locked`.
    @Test func aScanStillRunningDoesNotKeepTheApplicationOut() throws {
        let dir = try TemporaryDirectory()
        let store = dir.sub("s")
        let value = String(repeating: "x", count: 200)
        // 3,000 lines of 210 bytes: far more than a pipe and kvtool's output buffer hold, so the
        // scan cannot finish before the pipe is read.
        try Fixtures.makeStore(store) { s in for i in 0..<3000 { try s.set(value, forKey: Fixtures.key(i)) } }

        let scan = Process()
        scan.executableURL = URL(fileURLWithPath: KVTool.path)
        scan.arguments = ["scan", store]
        let pipe = Pipe()
        scan.standardOutput = pipe
        scan.standardError = FileHandle.nullDevice
        scan.standardInput = FileHandle.nullDevice
        try scan.run()
        // The first bytes: the scan has the store open and is listing it.
        let start = try #require(try pipe.fileHandleForReading.read(upToCount: 4096))
        #expect(!start.isEmpty)
        #expect(scan.isRunning)

        // The application opens the store for writing, sets a key and closes it.
        let app = Process()
        app.executableURL = URL(fileURLWithPath: LiveWriter.path)
        app.arguments = ["--set-once", store, "app-key", "0"]
        try app.run()
        app.waitUntilExit()
        #expect(app.terminationStatus == 0, "the application's open failed while kvtool scan was running")
        #expect(scan.isRunning, "the scan was still running when the application opened the store")

        let rest = try pipe.fileHandleForReading.readToEnd() ?? Data()
        scan.waitUntilExit()
        #expect(scan.terminationStatus == 0)
        let lines = String(decoding: start + rest, as: UTF8.self).split(separator: "\n").map(String.init)
        let keys = lines.compactMap { $0.split(separator: "\t").first.map(String.init) }.filter { $0 != "app-key" }
        #expect(keys.sorted() == (0..<3000).map(Fixtures.key), "every key the application left alone is listed once")
        #expect(try KVTool.run("get", store, "app-key").out == "app-key")
    }
}
