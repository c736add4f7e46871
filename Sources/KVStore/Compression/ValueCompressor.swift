/// How the writer compresses values with ``Store/Configuration-swift.struct/Compression/lz4``:
/// against the store's current dictionary once it has one, as plain LZ4 blocks before; and when to
/// make a dictionary (FORMAT.md §3.2).
///
/// - **When the first one is made:** once 256 KiB of values of at least 32 bytes have been
///   written, every one of them sampled (up to 2 KiB of each). That is four times the dictionary's
///   64 KiB, what the trainer needs to tell what recurs from what does not, and it comes early: a
///   store of 100-byte values has one after 2,600 puts, long before its first segment is full.
/// - **Whether it is used:** a dictionary is adopted only if, on samples it was not made from (every
///   other one is kept aside), values compress to at most 0.95 of what plain LZ4 makes of them.
///   Incompressible or already-compressed values never get one, and pay only for the sampling.
/// - **Retraining:** 8 MiB of values later, a new dictionary is made from a sample of the latest
///   ones (one value in 16, the last 512 KiB of them) and adopted if, on held-out samples again, it
///   compresses them to at most 0.9 of what the current one does. Each try that changes nothing
///   doubles the wait, up to 64 MiB (a try costs a few milliseconds); one that adopts resets it.
///   Drifting data gets a new dictionary; steady data keeps its own.
/// - **Failure to write one** (a full disk) fails no write: values go on as before and training is
///   tried again after the next 8 MiB.
struct ValueCompressor {
    private(set) var current: CompressionDictionary?
    private var samples: [[UInt8]] = []
    private var sampledBytes = 0
    /// Bytes of eligible values since the last training attempt.
    private var sinceAttempt = 0
    private var counter = 0
    private var nextID: UInt16?
    let trains: Bool
    /// Bytes of values between tries (see the type).
    private var interval = attemptEvery

    static let firstTrainingBytes = 256 << 10
    static let attemptEvery = 8 << 20
    static let longestInterval = 64 << 20
    static let longestSample = 2 << 10
    static let laterSampleStride = 16
    static let adoptOverPlain = 0.95
    static let adoptOverCurrent = 0.9

    /// `existing`: the ids of the dictionary files in the store; the newest, if it loads, is the
    /// current one. New ones get ids above every existing one. A writer that does not train uses
    /// no dictionary either (plain LZ4 only; compaction then rewrites dictionary values plainly).
    ///
    /// Not the newest if it was made in a segment after `activeSegment`: a power loss cut the log
    /// before it (the segments after the cut were set aside, FORMAT.md §6), and using it in an
    /// earlier segment would put records outside the range its retirement counts on (§3.2).
    init(trains: Bool, existing: [UInt16], shelf: DictionaryShelf, activeSegment: UInt32) {
        self.trains = trains
        if let newest = existing.last {
            current = trains ? (try? shelf.load(newest)).flatMap { $0.firstSegment <= activeSegment ? $0 : nil } : nil
            nextID = newest == .max ? nil : newest + 1
        } else {
            nextID = 1
        }
    }

    /// Compresses `value` into `destination` when that makes it smaller: the stored length and the
    /// dictionary used (0 for none); `nil` to store it raw.
    @inline(__always)
    func compress(_ value: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, capacity: Int) -> (Int, UInt16)? {
        if let current {
            return current.compress(value, into: destination, capacity: capacity).map { ($0, current.id) }
        }
        return LZ4.compress(value, into: destination, capacity: capacity).map { ($0, 0) }
    }

    /// Notes a value written; `true` when it is time to try training
    /// (``train(shelf:storeID:activeSegment:recordFeature:)``).
    @inline(__always)
    mutating func observe(_ value: UnsafeRawBufferPointer) -> Bool {
        guard trains, nextID != nil, value.count >= LZ4.minimumInputLength else { return false }
        sinceAttempt += value.count
        counter &+= 1
        let firstRound = current == nil && sampledBytes < Self.firstTrainingBytes
        if firstRound || counter % Self.laterSampleStride == 0 {
            let sample = Array(UnsafeRawBufferPointer(rebasing: value.prefix(Self.longestSample)))
            samples.append(sample)
            sampledBytes += sample.count
            // A bounded, recent sample: the older half goes when it has grown to four trainings' worth.
            if sampledBytes > 2 * Self.firstTrainingBytes {
                samples.removeFirst(samples.count / 2)
                sampledBytes = samples.reduce(0) { $0 + $1.count }
            }
        }
        if !attempted { return sampledBytes >= Self.firstTrainingBytes }
        return sinceAttempt >= interval
    }

    /// Whether training was tried since open (the first try comes after 256 KiB, later ones 8 MiB apart).
    private var attempted = false

    /// Makes a dictionary from the samples and, if it pays (see the type), writes it and makes it
    /// current. `recordFeature` records the incompatible feature in `STORE` before the first file.
    mutating func train(shelf: DictionaryShelf, storeID: UInt64, activeSegment: UInt32,
                        recordFeature: () throws(KVError) -> Void) {
        sinceAttempt = 0
        attempted = true
        guard let id = nextID, samples.count >= 8 else { return }
        let training = stride(from: 0, to: samples.count, by: 2).map { samples[$0] }
        let held = stride(from: 1, to: samples.count, by: 2).map { samples[$0] }
        let bytes = DictionaryTrainer.train(training)
        guard !bytes.isEmpty else { return }
        let candidate = CompressionDictionary(id: id, bytes: bytes, firstSegment: activeSegment, trainedOn: training.count)
        let withCandidate = Self.compressedSize(held) { candidate.compress($0, into: $1, capacity: $2) }
        let baseline: Int
        let threshold: Double
        if let current {
            baseline = Self.compressedSize(held) { current.compress($0, into: $1, capacity: $2) }
            threshold = Self.adoptOverCurrent
        } else {
            baseline = Self.compressedSize(held) { LZ4.compress($0, into: $1, capacity: $2) }
            threshold = Self.adoptOverPlain
        }
        guard Double(withCandidate) <= Double(baseline) * threshold else {
            interval = min(Self.longestInterval, interval * 2)
            return
        }
        interval = Self.attemptEvery
        do {
            try recordFeature()
            current = try shelf.add(DictionaryLayout.Contents(id: id, storeID: storeID, firstSegment: activeSegment,
                                                               trainedOn: training.count, bytes: bytes))
            nextID = id == .max ? nil : id + 1
        } catch {
            // Nothing used it: a file left behind is an unused dictionary, retired like any other.
            return
        }
    }

    /// What `samples` take compressed by `compress` (raw where it does not help).
    private static func compressedSize(_ samples: [[UInt8]],
                                       _ compress: (UnsafeRawBufferPointer, UnsafeMutableRawPointer, Int) -> Int?) -> Int {
        var total = 0
        withUnsafeTemporaryAllocation(byteCount: longestSample + 64, alignment: 16) { out in
            for sample in samples {
                total += sample.withBytes { compress($0, out.baseAddress!, out.count) } ?? sample.count
            }
        }
        return total
    }
}
