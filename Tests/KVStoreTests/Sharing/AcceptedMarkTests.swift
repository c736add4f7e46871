@testable import KVStore
import Foundation
import Testing

/// A reader that took a marked index file as the index (its writer died between the mark and the
/// rename) must not stay on it once another file is at the path (FORMAT.md §12.2, step 3).
@Suite("Live readers: an accepted replacement mark")
struct AcceptedMarkTests {
    private func key(_ i: Int) -> [UInt8] { Array("key-\(i)".utf8) }

    @Test func readerWithAnAcceptedMarkMovesToTheFileNowAtThePath() throws {
        try withTemporaryDirectory { dir in
            let writer = try Store(path: dir, configuration: TestStores.configuration())
            for i in 0..<100 { try writer.set([UInt8(i)], forKey: key(i)) }
            try writer.close()
            // A writer that marked the index and died before its rename.
            let index = dir + "/" + FileNames.index
            let mark: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
            try FileSurgery.overwrite(index, at: IndexHeader.replaced, with: mark)
            var readerConfiguration = TestStores.configuration()
            readerConfiguration.readOnly = true
            let reader = try Store(path: dir, configuration: readerConfiguration)
            #expect(try reader.engine.views.get().acceptedMark != 0)
            #expect(try reader.value(forKey: key(7)) == [7])
            // Another file at the path, with the mark cleared, as a rename would put there; then a
            // writer opens it and writes.
            var bytes = try FileSurgery.read(index)
            for i in 0..<8 { bytes[IndexHeader.replaced + i] = 0 }
            try FileSurgery.write(bytes, to: index + ".copy")
            #expect(rename(index + ".copy", index) == 0)
            let next = try Store(path: dir, configuration: TestStores.configuration())
            try next.set([200], forKey: key(500))
            #expect(try reader.value(forKey: key(500)) == [200], "the reader follows the file now at the path")
            #expect(try reader.engine.views.get().acceptedMark == 0)
            try next.close()
            try reader.close()
        }
    }
}
