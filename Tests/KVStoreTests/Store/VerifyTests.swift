@testable import KVStore
import Foundation
import Testing

@Suite("Verify")
struct VerifyTests {
    private func makeStore(_ dir: String) throws -> Store {
        var configuration = Store.Configuration()
        configuration.segmentSize = 64 * 1024
        let store = try Store(path: dir, configuration: configuration)
        for i in 0..<2000 { try store.set([UInt8](repeating: UInt8(i % 200), count: 80), forKey: Array("key-\(i)".utf8)) }
        for i in stride(from: 0, to: 2000, by: 7) { try store.removeValue(forKey: Array("key-\(i)".utf8)) }
        return store
    }

    @Test func healthyStoreVerifiesClean() throws {
        try withTemporaryDirectory { dir in
            let store = try makeStore(dir)
            let report = try store.verify()
            #expect(report.isOK, "\(report.problems)")
            #expect(report.records > 2000)
            #expect(report.keys == 2000 - (2000 + 6) / 7)
            #expect(report.segments >= 2)
            try store.close()
        }
    }

    @Test func flippedByteInSealedSegmentIsReportedAndTheRestStillChecked() throws {
        try withTemporaryDirectory { dir in
            var store = try makeStore(dir)
            try store.close()
            // Damage one record in the middle of the first (sealed) segment.
            let path = dir + "/" + FileNames.segment(1)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[bytes.count / 2] ^= 0x5A
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            var configuration = Store.Configuration()
            configuration.segmentSize = 64 * 1024
            store = try Store(path: dir, configuration: configuration)
            let report = try store.verify()
            #expect(!report.isOK)
            // The damaged record, and the hint that no longer matches; never more than a few lines.
            #expect(report.problems.contains { $0.path == path && $0.offset != nil })
            #expect(report.problems.count <= 4, "\(report.problems)")
            // Records after the damage were still read (resynchronized).
            #expect(report.records > 1900)
            try store.close()
        }
    }

    @Test func indexSlotPointingAtWrongRecordIsReported() throws {
        try withTemporaryDirectory { dir in
            let store = try makeStore(dir)
            let index = try store.engine.views.get().index
            var damaged = false
            index.forEachLive { slot, _, word in
                guard !damaged else { return }
                // Point the slot 8 bytes further: no record starts there.
                var location = Location(word: word)
                location.offset += 8
                index.update(slot: slot, location: location.word)
                damaged = true
            }
            let report = try store.verify()
            #expect(report.problems.count == 2, "\(report.problems)")  // the slot, and the key it lost
            #expect(report.problems.allSatisfy { $0.path.hasSuffix("/index") })
            store.simulateCrash()
        }
    }
}
