/// Makes a compression dictionary from sample values: the pieces of the samples that recur most
/// across them, up to 64 KiB (the farthest LZ4 refers back).
///
/// The method is a small version of zstd's COVER: count, for every 6-byte string, how many samples
/// contain it; cut the samples into as many stretches ("epochs") as the dictionary has pieces; in
/// each, take the piece of ``pieceLength`` bytes whose strings are the most common; then forget the
/// strings it holds, so that the next pieces cover something else. Strings found in one sample
/// only (hashes, serial numbers, free text) score nothing. The best pieces go last, where a
/// value's matches are nearest. On the Debian package index (the first 256 KiB of stanzas as
/// samples) values compressed against it took 0.487 of their size, against 0.498 for the last
/// 64 KiB of the same samples simply concatenated and 0.80 for plain LZ4; piece lengths of 64 to
/// 1,024 bytes and strings of 4 to 10 bytes all landed within 0.485–0.51. FORMAT.md has no say in
/// how a dictionary is made: any bytes are a valid one.
struct DictionaryTrainer {
    static let stringLength = 6
    static let pieceLength = 256
    private static let tableBits = 18

    /// The dictionary for `samples`, at most `capacity` bytes; every sample whole when they are
    /// not longer than that together.
    static func train(_ samples: [[UInt8]], capacity: Int = DictionaryLayout.maximumLength) -> [UInt8] {
        let total = samples.reduce(0) { $0 + $1.count }
        if total <= capacity { return samples.flatMap { $0 } }
        let all = samples.flatMap { $0 }
        guard all.count >= stringLength else { return all }
        // The bucket of the string at every position, computed once: the counting, the scoring
        // and the forgetting below all look it up.
        let positions = all.count - stringLength + 1
        var buckets = [Int32](repeating: 0, count: positions)
        all.withUnsafeBufferPointer { bytes in
            buckets.withUnsafeMutableBufferPointer { out in
                for i in 0 ..< positions { out[i] = Int32(truncatingIfNeeded: Self.bucket(bytes, i)) }
            }
        }
        var frequency = [UInt16](repeating: 0, count: 1 << tableBits)
        do {
            // A string counts once per sample.
            var lastSample = [UInt32](repeating: 0, count: 1 << tableBits)
            var start = 0
            for (n, sample) in samples.enumerated() {
                let end = min(positions, start + sample.count - stringLength + 1)
                if start < end {
                    for i in start ..< end {
                        let b = Int(buckets[i])
                        if lastSample[b] != UInt32(n + 1) {
                            lastSample[b] = UInt32(n + 1)
                            if frequency[b] != .max { frequency[b] += 1 }
                        }
                    }
                }
                start += sample.count
            }
        }
        let pieces = max(1, capacity / pieceLength)
        let epoch = max(pieceLength, all.count / pieces)
        var chosen: [(score: Int, start: Int)] = []
        var epochStart = 0
        while epochStart + pieceLength <= all.count && chosen.count < pieces {
            let epochEnd = min(all.count, epochStart + epoch)
            if let best = bestPiece(buckets, from: epochStart, to: epochEnd, frequency: frequency) {
                chosen.append(best)
                // Its strings are covered now.
                for i in best.start ..< min(positions, best.start + pieceLength - stringLength + 1) { frequency[Int(buckets[i])] = 0 }
            }
            epochStart = epochEnd
        }
        chosen.sort { $0.score < $1.score }
        var dictionary: [UInt8] = []
        dictionary.reserveCapacity(capacity)
        for piece in chosen.suffix(capacity / pieceLength) { dictionary += all[piece.start ..< piece.start + pieceLength] }
        return dictionary.isEmpty ? Array(all.suffix(capacity)) : dictionary
    }

    /// The piece of `[from, to)` whose strings are the most common (only those in more than one
    /// sample count); `nil` when none scores.
    private static func bestPiece(_ buckets: [Int32], from: Int, to: Int, frequency: [UInt16]) -> (score: Int, start: Int)? {
        guard to - from >= pieceLength else { return nil }
        let strings = pieceLength - stringLength + 1
        return buckets.withUnsafeBufferPointer { buckets in
            frequency.withUnsafeBufferPointer { frequency in
                func score(_ i: Int) -> Int {
                    let f = Int(frequency[Int(buckets[i])])
                    return f > 1 ? f : 0
                }
                var current = 0
                for i in from ..< from + strings { current += score(i) }
                var best = (score: current, start: from)
                var s = from
                while s + pieceLength < to {
                    current += score(s + strings) - score(s)
                    s += 1
                    if current > best.score { best = (current, s) }
                }
                return best.score > 0 ? best : nil
            }
        }
    }

    @inline(__always) private static func bucket(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        var v: UInt64 = 0
        for j in 0 ..< stringLength { v |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
        return Int(truncatingIfNeeded: (v &* 0x9E37_79B9_7F4A_7C15) >> (64 - UInt64(tableBits)))
    }
}
