@testable import KVStore
import Foundation
import Testing

@Suite("Missing hints")
struct MissingHintTests {
    /// A sealed segment whose hint file is missing (a crash between a roll and the hint write) gets
    /// its hint rewritten in the background, and closing does not wait forever for it.
    @Test(.timeLimit(.minutes(1)))
    func missingHintIsRewrittenAndCloseReturns() throws {
        try withTemporaryDirectory { dir in
            var configuration = Store.Configuration()
            configuration.segmentSize = 64 * 1024
            var store = try Store(path: dir, configuration: configuration)
            for i in 0..<1200 { try store.set([UInt8](repeating: UInt8(i % 251), count: 100), forKey: Array("key-\(i)".utf8)) }
            try store.close()
            let hint = dir + "/" + FileNames.hint(1)
            #expect(FileManager.default.fileExists(atPath: hint))
            try FileManager.default.removeItem(atPath: hint)

            store = try Store(path: dir, configuration: configuration)
            try store.close()
            #expect(FileManager.default.fileExists(atPath: hint), "the hint was rewritten before close returned")
            store = try Store(path: dir, configuration: configuration)
            for i in 0..<1200 {
                #expect(try store.value(forKey: Array("key-\(i)".utf8)) == [UInt8](repeating: UInt8(i % 251), count: 100))
            }
            try store.close()
        }
    }
}
