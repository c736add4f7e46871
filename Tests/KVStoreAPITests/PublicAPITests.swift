import KVStore
import Testing

/// Everything the public API promises, used through `import KVStore` only (no `@testable`).
@Suite("Public API")
struct PublicAPITests {
    @Test func setGetRemoveAndContainsRoundTrip() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir + "/db")
            let key: [UInt8] = [1, 2, 3]
            #expect(try store.value(forKey: key) == nil)
            try store.set([9, 8, 7], forKey: key)
            #expect(try store.value(forKey: key) == [9, 8, 7])
            #expect(try store.containsKey(key))
            #expect(try store.withValue(forKey: key) { $0.count } == 3)
            #expect(try store.removeValue(forKey: key))
            #expect(try store.removeValue(forKey: key) == false)
            #expect(try store.value(forKey: key) == nil)
            #expect(try store.containsKey(key) == false)
            try store.close()
        }
    }

    @Test func configurationDurabilityAndCompressionAreSettable() throws {
        try withTemporaryDirectory { dir in
            for durability in [Store.Durability.process, .sync, .periodic(.milliseconds(5))] {
                var configuration = Store.Configuration()
                configuration.compression = .lz4
                configuration.durability = durability
                let store = try Store(path: dir + "/\(durability)", configuration: configuration)
                let value = [UInt8](repeating: 65, count: 4096)
                try store.set(value, forKey: "k")
                try store.sync()
                #expect(try store.value(forKey: "k") == value)
                try store.close()
            }
        }
    }

    @Test func valuesSurviveACleanReopen() throws {
        try withTemporaryDirectory { dir in
            var configuration = Store.Configuration()
            configuration.segmentSize = 64 * 1024
            var store = try Store(path: dir, configuration: configuration)
            for i in 0..<5000 { try store.set("value-\(i)", forKey: "key-\(i)") }
            for i in stride(from: 0, to: 5000, by: 3) { try store.removeValue(forKey: "key-\(i)") }
            try store.close()
            store = try Store(path: dir, configuration: configuration)
            #expect(store.recoveryReport.indexTrust == .clean)
            for i in 0..<5000 {
                #expect(try store.string(forKey: "key-\(i)") == (i % 3 == 0 ? nil : "value-\(i)"))
            }
            try store.close()
        }
    }

    @Test func batchAppliesEveryOperation() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir)
            try store.set("old", forKey: "b")
            try store.write { batch in
                batch.set("1", forKey: "a")
                batch.removeValue(forKey: "b")
                batch.set("x", forKey: "c")
                batch.set("y", forKey: "c")
            }
            #expect(try store.string(forKey: "a") == "1")
            #expect(try store.string(forKey: "b") == nil)
            #expect(try store.string(forKey: "c") == "y")
            try store.close()
        }
    }

    @Test func cursorsYieldEveryLivePairOnce() throws {
        try withTemporaryDirectory { dir in
            var configuration = Store.Configuration()
            configuration.segmentSize = 64 * 1024
            let store = try Store(path: dir, configuration: configuration)
            var expected: [[UInt8]: [UInt8]] = [:]
            for i in 0..<3000 {
                let key = Array("k\(i % 1000)".utf8), value = Array("v\(i)".utf8)
                try store.set(value, forKey: key)
                expected[key] = value
            }
            var seen: [[UInt8]: [UInt8]] = [:]
            var cursor = try store.entries()
            while let (key, value) = try cursor.next() {
                #expect(seen[key] == nil)
                seen[key] = value
            }
            #expect(seen == expected)
            var keys = try store.keys()
            var count = 0
            while try keys.next() != nil { count += 1 }
            #expect(count == 1000)
            let stats = try store.statistics
            #expect(stats.keys == 1000)
            #expect(stats.segments >= 2)
            #expect(stats.deadBytes > 0)
            try store.close()
        }
    }

    @Test func closeIsIdempotentAndLaterCallsThrowClosed() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir)
            try store.close()
            try store.close()
            #expect { try store.value(forKey: "a") } throws: { ($0 as? KVError)?.code == .closed }
            #expect { try store.set("v", forKey: "a") } throws: { ($0 as? KVError)?.code == .closed }
        }
    }

    @Test func withValueBodyMayReadAndWriteTheStoreAgain() throws {
        try withTemporaryDirectory { dir in
            let store = try Store(path: dir)
            let a = [UInt8](repeating: 1, count: 300), b = [UInt8](repeating: 2, count: 300)
            try store.set(a, forKey: "a")
            try store.set(b, forKey: "b")
            let outer = try store.withValue(forKey: "a") { bytesA -> [UInt8] in
                // Reading and writing inside the body must not overwrite the bytes being looked at.
                #expect(try store.value(forKey: "b") == b)
                try store.set([UInt8](repeating: 3, count: 300), forKey: "c")
                return Array(bytesA)
            }
            #expect(outer == a)
            try store.close()
        }
    }
}
