@testable import KVStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Live readers (issue 9) in other processes than the writer: `kvstore-crash-child --live-reader`
/// children check each read against the oracle of `--live-writer` children (Tests/CrashChild/
/// LiveProtocol.swift). No timing is asserted: a writer "not blocked" is one that completes its
/// operations (a hang is reported after minutes instead of waited on forever).
@Suite("Live readers: processes", .serialized)
struct LiveReaderProcessTests {
    /// The readers' check can fail: a value stamped for another key, bytes that are no value of
    /// the protocol at all, and an oracle that claims newer versions than the store holds are each
    /// reported as violations (by a reader and by the final check).
    @Test func readerCheckReportsWrongValues() throws {
        try withTemporaryDirectory { directory in
            var live = try LiveProcesses(directory: directory, keys: 200, seed: testSeed())
            try live.createStore()
            live.expectWriterFinishes(try live.writer(ops: 2_000), "filling the store")
            let store = try Store(path: live.store)
            try store.set(Array("k7v1;".utf8), forKey: Array("k5".utf8))
            try store.set(Array("not a value of the protocol".utf8), forKey: Array("k6".utf8))
            try store.close()
            let versions = try LiveOracleFile.versions(live.oracle)
            for k in 10..<20 { try LiveOracleFile.set(live.oracle, key: k, version: versions[k] + 8) }

            let reader = try live.reader(reads: 20_000)
            guard reader.waitForExit(), let report = reader.line("R done") else {
                Issue.record("the reader did not report: \(reader)")
                return
            }
            let violations = reader.lines("V ").joined(separator: "\n")
            #expect(report.int("violations") > 0)
            #expect(violations.contains("read as a value of key 7"), "\(violations)")
            #expect(violations.contains("carry no stamp"), "\(violations)")
            #expect(violations.contains("older than version"), "\(violations)")

            let check = try LiveChild(["--live-check", live.store, live.oracle, String(live.keys)], name: "check", logDirectory: directory)
            #expect(check.waitForExit())
            #expect(check.line("C ")?.int("violations") ?? 0 >= 3, "\(check)")
        }
    }

    /// A writer process is killed; a reader process opens with no writer alive (it must work out
    /// the store left open on its own), then a writer process opens beside it and writes: the
    /// writer is not kept out, and the reader sees its writes.
    @Test func writerOpenedAfterReaderProcesses() throws {
        try withTemporaryDirectory { directory in
            var live = try LiveProcesses(directory: directory, seed: testSeed())
            try live.createStore()
            let killed = try live.writer()
            try killed.waitForLine("W open")
            guard try live.waitForProgress(3_000, from: 0, writer: killed) else { return }
            killed.kill9()
            #expect(killed.diedOfSIGKILL, "\(killed)")

            let stop = live.stopFile("readers")
            let reader = try live.reader(stop: stop)
            #expect(try reader.waitForLine("R ready").fields["access"] == "snapshot", "\(reader)")
            let writer = try live.writer(ops: 4_000, lz4: true)
            live.expectWriterFinishes(writer, "a writer opened after a reader of a store left open by a killed writer")
            #expect(writer.line("W open")?.text == "W open replayed", "\(writer)")
            let second = try live.reader(stop: stop)
            #expect(try second.waitForLine("R ready").fields["access"] == "live:none", "\(second)")
            live.expectWriterFinishes(try live.writer(ops: 2_000), "a second writer")
            _ = FileManager.default.createFile(atPath: stop, contents: nil)
            // It moved over from its private index to the store's once a writer had opened.
            #expect(live.expectReaderReport(reader, fresh: true, "the reader opened while no writer was alive")?.fields["access"] == "live:none")
            live.expectReaderReport(second, fresh: true, "the reader opened after the first writer")
            try live.check()
        }
    }

    /// Two reader processes stay open while writer processes open, write and close one after the
    /// other; then this process opens the store for writing, and rebuilds its index: none of them
    /// is refused with `.locked`, and the readers see the writes.
    @Test func readerProcessesNeverKeepAWriterOut() throws {
        try withTemporaryDirectory { directory in
            var live = try LiveProcesses(directory: directory, seed: testSeed())
            try live.createStore()
            live.expectWriterFinishes(try live.writer(ops: 1_000), "filling the store")
            let stop = live.stopFile("readers")
            let readers = try (0..<2).map { _ in try live.reader(stop: stop) }
            defer { for reader in readers where reader.isRunning { reader.kill9() } }
            for reader in readers { try reader.waitForLine("R ready") }

            for round in 0..<4 {
                guard live.expectWriterFinishes(try live.writer(ops: 800, lz4: round % 2 == 1), "round \(round)") else { return }
            }
            #expect(throws: Never.self, "a writable open in this process beside reader processes") {
                try Store(path: live.store).close()
            }
            #expect(throws: Never.self, "Store.rebuildIndex beside reader processes") {
                _ = try Store.rebuildIndex(at: live.store)
            }
            live.expectWriterFinishes(try live.writer(ops: 800), "after the rebuild")
            _ = FileManager.default.createFile(atPath: stop, contents: nil)
            for (n, reader) in readers.enumerated() { live.expectReaderReport(reader, fresh: true, "reader \(n)") }
            try live.check()
        }
    }

    /// Reader processes are killed with SIGKILL in the middle of their reads, five times, while a
    /// writer process writes. The writer goes on writing after each kill (it acknowledges another
    /// 2,000 versions), closes cleanly when asked; a writable open then works, and new readers
    /// open and read correctly, beside a new writer too.
    @Test func readerKilledInTheMiddleOfReadsHoldsNothingUp() throws {
        try withTemporaryDirectory { directory in
            var live = try LiveProcesses(directory: directory, seed: testSeed())
            try live.createStore()
            let stopWriter = live.stopFile("writer")
            let writer = try live.writer(stop: stopWriter)
            defer { if writer.isRunning { writer.kill9() } }
            try writer.waitForLine("W open")
            for round in 0..<5 {
                let reader = try live.reader()
                #expect(try reader.waitForLine("R ready").fields["access"] == "live:\(writer.pid)", "\(reader)")
                // It reads while the writer writes, and is killed in the middle of that.
                guard try live.waitForProgress(300, from: try live.progress(), writer: writer) else { return }
                reader.kill9()
                #expect(reader.diedOfSIGKILL, "round \(round): \(reader)")
                #expect(reader.lines("V ").isEmpty, "round \(round): \(reader)")
                guard try live.waitForProgress(2_000, from: try live.progress(), writer: writer) else { return }
            }
            _ = FileManager.default.createFile(atPath: stopWriter, contents: nil)
            live.expectWriterFinishes(writer, "the writer after five of its readers were killed")

            #expect(throws: Never.self, "a writable open after the readers were killed") {
                let store = try Store(path: live.store)
                try store.close()
            }
            let stop = live.stopFile("readers")
            let reader = try live.reader(stop: stop)
            try reader.waitForLine("R ready")
            live.expectWriterFinishes(try live.writer(ops: 2_000), "a new writer")
            _ = FileManager.default.createFile(atPath: stop, contents: nil)
            live.expectReaderReport(reader, fresh: true, "a reader opened after the kills")
            live.expectReaderReport(try live.reader(reads: 5_000), fresh: false, "a reader with no writer")
            try live.check()
        }
    }
}
