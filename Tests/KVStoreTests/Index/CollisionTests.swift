@testable import KVStore
import Foundation
import Testing

/// Every key hashes to the same value (`hasher = .constant(42)`), so every lookup walks one long
/// probe sequence and every hit is decided by comparing the key stored in the record. Sets,
/// overwrites, removals, batches and gets of many distinct keys must behave exactly as a
/// dictionary, across a clean reopen, a replay after a crash, and a rebuild (from hints and from
/// the segments).
@Suite("Index: forced hash collisions")
struct CollisionTests {
    static let colliding = KeyHasher.constant(42)

    /// Distinct keys that are easy to confuse: prefixes of each other, equal lengths differing in
    /// one byte (first, middle, last), the same bytes in another order, long keys.
    static func confusableKeys() -> [[UInt8]] {
        var keys: [[UInt8]] = []
        for length in 1...12 { keys.append([UInt8](repeating: 0x61, count: length)) }  // a, aa, aaa, …
        let base = Array("collision-key-000".utf8)
        for position in [0, 8, base.count - 1] {
            for delta: UInt8 in 1...6 {
                var key = base
                key[position] &+= delta
                keys.append(key)
            }
        }
        keys.append(base)
        keys.append(Array(base.reversed()))
        keys.append(base + [0])
        keys.append([0] + base)
        keys.append([0])
        keys.append([0, 0])
        keys.append([0xFF])
        for i in 0..<60 { keys.append(Array("k\(i)".utf8)) }
        for i in 0..<4 { keys.append([UInt8](repeating: UInt8(i), count: 3_000 + i)) }
        precondition(Set(keys).count == keys.count)
        return keys
    }

    @Test(arguments: [Store.Compression.none, .lz4])
    func collidingKeysBehaveLikeADictionary(_ compression: Store.Compression) throws {
        let seed = testSeed()
        try withScratchDirectory { directory in
            let keys = Self.confusableKeys()
            var rng = SplitMix64(seed: seed)
            var configuration = TestStores.configuration(compression: compression, segmentSize: 64 << 10, hasher: Self.colliding)
            var store = try Store(path: directory, configuration: configuration)
            var model: [[UInt8]: [UInt8]] = [:]
            func value() -> [UInt8] {
                let length = [0, 1, 9, 100, 900, 5_000].randomElement(using: &rng)!
                return Bool.random(using: &rng) ? rng.bytes(length) : [UInt8](repeating: UInt8.random(in: 0...255, using: &rng), count: length)
            }
            func check(_ stage: String) throws {
                var mismatches: [String] = []
                for key in keys {
                    let got = try store.value(forKey: key)
                    if got != model[key] { mismatches.append("\(key.prefix(20))…(\(key.count) bytes): got \(got?.count ?? -1), want \(model[key]?.count ?? -1)") }
                    if try store.containsKey(key) != (model[key] != nil) { mismatches.append("containsKey \(key.prefix(20))") }
                }
                var seen = 0
                var cursor = try store.entries()
                while let (key, value) = try cursor.next() {
                    seen += 1
                    if model[key] != value { mismatches.append("cursor pair for \(key.prefix(20))") }
                }
                if seen != model.count { mismatches.append("cursor yielded \(seen) pairs, model has \(model.count)") }
                #expect(mismatches.isEmpty, "\(stage), seed \(seed): \(mismatches.prefix(5))")
                let statistics = try store.statistics
                #expect(statistics.keys == model.count, "\(stage): statistics.keys \(statistics.keys), model \(model.count)")
            }

            for round in 0..<5 {
                for _ in 0..<600 {
                    let key = keys.randomElement(using: &rng)!
                    switch Int.random(in: 0..<10, using: &rng) {
                    case 0..<5:
                        let v = value()
                        try store.set(v, forKey: key)
                        model[key] = v
                    case 5..<7:
                        let existed = try store.removeValue(forKey: key)
                        #expect(existed == (model[key] != nil), "removeValue returned \(existed), seed \(seed)")
                        model[key] = nil
                    case 7:
                        var members: [([UInt8], [UInt8]?)] = []
                        for _ in 0..<Int.random(in: 1...5, using: &rng) {
                            members.append((keys.randomElement(using: &rng)!, Bool.random(using: &rng) ? value() : nil))
                        }
                        try store.write { batch in
                            for (k, v) in members { if let v { batch.set(v, forKey: k) } else { batch.removeValue(forKey: k) } }
                        }
                        for (k, v) in members { model[k] = v }
                    default:
                        #expect(try store.value(forKey: key) == model[key], "get, seed \(seed)")
                    }
                }
                try check("round \(round), live")
                switch round {
                case 0:
                    try store.close()
                    store = try Store(path: directory, configuration: configuration)
                    #expect(store.recoveryReport.indexTrust == .clean)
                    try check("after a clean reopen")
                case 1:
                    store.simulateCrash()
                    store = try Store(path: directory, configuration: configuration)
                    #expect(store.recoveryReport.indexTrust == .replayed)
                    try check("after a crash and replay")
                case 2:
                    store.simulateCrash()
                    configuration.bootID = TestStores.randomBootID(using: &rng)
                    store = try Store(path: directory, configuration: configuration)
                    #expect(store.recoveryReport.indexTrust == .rebuilt)
                    try check("after a rebuild")
                case 3:
                    try store.close()
                    try FileSurgery.remove(directory + "/" + FileNames.index)
                    for hint in try FileSurgery.hintNames(in: directory) { try FileSurgery.remove(directory + "/" + hint) }
                    store = try Store(path: directory, configuration: configuration)
                    #expect(store.recoveryReport.indexTrust == .rebuilt)
                    try check("after a rebuild by scanning every segment")
                default:
                    break
                }
            }
            #expect(try FileSurgery.segmentNames(in: directory).count > 3, "the run should span several segments")
            try store.close()
        }
    }

    /// Removing a key in the middle of a long run of equal hashes must not hide the keys after it
    /// (probing continues past a removed slot), and re-adding it must find the right place.
    @Test func removingFromTheMiddleOfACollisionRunKeepsTheRestReachable() throws {
        try withScratchDirectory { directory in
            let configuration = TestStores.configuration(hasher: Self.colliding)
            var store = try Store(path: directory, configuration: configuration)
            let keys = (0..<200).map { Array("run-\($0)".utf8) }
            for (i, key) in keys.enumerated() { try store.set([UInt8(i % 256)], forKey: key) }
            for i in stride(from: 0, to: 200, by: 3) { #expect(try store.removeValue(forKey: keys[i])) }
            func check(_ stage: String) throws {
                for (i, key) in keys.enumerated() {
                    #expect(try store.value(forKey: key) == (i % 3 == 0 ? nil : [UInt8(i % 256)]), "\(stage): key \(i)")
                }
            }
            try check("after removals")
            for i in stride(from: 0, to: 200, by: 6) { try store.set([0xEE], forKey: keys[i]) }
            for (i, key) in keys.enumerated() {
                let want: [UInt8]? = i % 6 == 0 ? [0xEE] : (i % 3 == 0 ? nil : [UInt8(i % 256)])
                #expect(try store.value(forKey: key) == want, "after re-adding: key \(i)")
            }
            try store.close()
            store = try Store(path: directory, configuration: configuration)
            for (i, key) in keys.enumerated() {
                let want: [UInt8]? = i % 6 == 0 ? [0xEE] : (i % 3 == 0 ? nil : [UInt8(i % 256)])
                #expect(try store.value(forKey: key) == want, "after reopening: key \(i)")
            }
            // A key that was never written is absent even though its hash matches every slot.
            #expect(try store.value(forKey: Array("run-200".utf8)) == nil)
            #expect(try store.containsKey(Array("run-".utf8)) == false)
            try store.close()
        }
    }
}
