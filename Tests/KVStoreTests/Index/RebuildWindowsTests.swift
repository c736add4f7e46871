@testable import KVStore
import Testing

/// A rebuild's table built window by window in private memory (``RebuildWindows``) holds exactly
/// what the same offers make in the mapped file, wrap-around and spills included.
@Suite("Index: rebuild windows")
struct RebuildWindowsTests {
    /// Offers `hashes` (each a distinct key: no segments to compare keys in, so an equal hash is a
    /// collision) window by window, as the rebuilder does. Returns the table, finished.
    static func build(_ hashes: [UInt64], directory: String, capacity: Int, windowBytes: Int?, spill: Int)
        throws -> RebuildTable {
        var table = try RebuildTable(path: directory + "/table", capacity: capacity, storeID: 1, hashSeed: 2, generation: 1,
                                     bootID: [UInt8](repeating: 0, count: 16), segments: [],
                                     windowBytes: windowBytes, spill: spill)
        for window in 0 ..< table.windowCount {
            table.beginWindow(window)
            for (i, hash) in hashes.enumerated() where table.holds(hash) {
                try table.offer(hash: hash, key: UnsafeRawBufferPointer(start: nil, count: 0), segmentID: 1,
                                offset: 4096 + 64 * i, length: 64, isDelete: false)
            }
            try table.finishWindow()
        }
        return table
    }

    static func word(_ i: Int) -> UInt64 { Location(segmentID: 1, offset: 4096 + 64 * i, recordLength: 64).word }

    @Test(arguments: [1, 3, 7])
    func windowedTableHoldsWhatTheMappedOneDoes(windows: Int) throws {
        try withScratchDirectory { directory in
            var rng = SplitMix64(seed: UInt64(windows))
            let capacity = 60_000
            // Half full, with runs of equal hashes and keys at both ends of the hash range, so
            // that probes run past windows' ends and past the table's end into slot 0.
            var hashes = (0..<28_000).map { _ in UInt64.random(in: 2 ... .max, using: &rng) }
            hashes += [UInt64](repeating: .max, count: 40) + [UInt64](repeating: 2, count: 30)
            hashes += (0..<windows).flatMap { w in [UInt64](repeating: UInt64.max / UInt64(windows) * UInt64(w + 1) - 1, count: 25) }
            let windowBytes = (capacity * HashIndex.slotSize + windows - 1) / windows
            let windowed = try Self.build(hashes, directory: directory, capacity: capacity, windowBytes: windowBytes, spill: 256)
            #expect(windowed.windowCount == windows)
            #expect(!windowed.overflowed)
            try withScratchDirectory { other in
                let mapped = try Self.build(hashes, directory: other, capacity: capacity, windowBytes: nil, spill: 256)
                #expect(windowed.live == mapped.live && windowed.live == hashes.count)
                for (i, hash) in hashes.enumerated() {
                    #expect(windowed.holdsPut(hash: hash, word: Self.word(i)), "hash \(hash) #\(i)")
                    #expect(mapped.holdsPut(hash: hash, word: Self.word(i)))
                }
                var count = 0
                windowed.forEachPut { _, _ in count += 1 }
                #expect(count == hashes.count)
            }
        }
    }

    /// A cluster longer than the spill cannot be built in windows: the table says so, and the
    /// rebuild builds it in the mapped file instead.
    @Test func aClusterLongerThanTheSpillOverflows() throws {
        try withScratchDirectory { directory in
            let capacity = 20_000
            let middle = UInt64.max / 2 - 1
            let hashes = (0..<5_000).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 | 2 } + [UInt64](repeating: middle, count: 300)
            let table = try Self.build(hashes, directory: directory, capacity: capacity, windowBytes: capacity * 8, spill: 128)
            #expect(table.windowCount == 2)
            #expect(table.overflowed)
        }
    }
}
