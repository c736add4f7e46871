/// The one reader of a segment's log, and the one place that decides what it means when the
/// records stop before the end: a clean end, a torn tail, the point where a power loss cut the
/// history, or damage (FORMAT.md §6). leveldb's `log::Reader` plays this part there.
///
/// It reads with a ``SegmentScanner`` (which parses records and checks batches whole) and
/// classifies each stop from the segment's ``Role`` and the caller's ``Purpose``. Callers act on
/// the classification and never apply the rule themselves.
struct LogReader: ~Copyable {
    /// What the segment is to the store.
    enum Role: Equatable {
        /// The segment the writer appends to. `end` is where its records end when that is known
        /// (a live writer's position); `nil` when this reader is to find it (recovery). Past the
        /// records, a preallocated active segment holds zeros.
        case active(end: Int?)
        /// A sealed segment: truncated to its last record when it was sealed, so it has no tail
        /// of zeros. `hinted`: its hint file exists (it was synced before the hint was written).
        case sealed(hinted: Bool)
        /// A segment file read outside its store (`kvtool dump`): whether it was the active one is
        /// unknown, so zeros that no whole record follows end it, and anything else is damage.
        case standalone
    }

    /// What the rule says of records that stop before the limit (FORMAT.md §6): the one table
    /// every reader of segments consults, this one and kvtool's raw reader alike.
    enum Verdict: Equatable {
        case end, tornTail, cut, damage
        /// Damage; look for the next whole record and go on.
        case resynchronize
        /// The end, unless a whole record follows: then the zeros are damage, gone past.
        case endUnlessARecordFollows
    }

    static func verdict(role: Role, purpose: Purpose, zeros: Bool) -> Verdict {
        switch (role, purpose) {
        case (.active(end: nil), _):
            // Past the writer's last record a preallocated segment holds zeros; a record cut short
            // there is the write a crash interrupted.
            return zeros ? .end : .tornTail
        case (.sealed(hinted: false), .recover(afterPowerLoss: true)):
            return .cut
        case (.standalone, .inspect(resynchronize: let resynchronize)):
            return zeros ? .endUnlessARecordFollows : resynchronize ? .resynchronize : .damage
        case (.standalone, _):
            return zeros ? .end : .damage
        case (_, .inspect(resynchronize: true)):
            return .resynchronize
        default:
            return .damage
        }
    }

    /// What the caller does with the records.
    enum Purpose: Equatable {
        /// Build or update the index: stop at the first stop. `afterPowerLoss`: the pages of
        /// segments that were not synced may be missing (a rebuild), so a sealed segment without a
        /// hint that ends early is where the history was cut, not damage.
        case recover(afterPowerLoss: Bool)
        /// Verify, count, salvage, or copy (compaction): a stop before the end is damage; with
        /// `resynchronize`, the reader looks for the next whole record after it and goes on.
        case inspect(resynchronize: Bool)
    }

    /// Why the records stopped.
    enum Stop: Equatable {
        /// The log ends here, as it should.
        case end(offset: Int)
        /// The active segment's last write was cut short (a crash): drop the bytes from here.
        case tornTail(offset: Int, reason: String)
        /// A sealed segment without a hint ends here, before its file does: a power loss took the
        /// rest, and every later segment was never synced either (FORMAT.md §6).
        case cut(offset: Int, reason: String)
        /// Bytes that should be records and are not: corruption.
        case damage(offset: Int, reason: String)

        var offset: Int {
            switch self {
            case .end(let offset), .tornTail(let offset, _), .cut(let offset, _), .damage(let offset, _): offset
            }
        }

        /// What the bytes at the stop are, for a report; `nil` for a clean end.
        var reason: String? {
            switch self {
            case .end: nil
            case .tornTail(_, let reason), .cut(_, let reason), .damage(_, let reason): reason
            }
        }
    }

    enum Event {
        case record(SegmentScanner.Record)
        /// Damage the reader got past (``Purpose/inspect(resynchronize:)`` only): `length` bytes
        /// from `offset` were skipped to the next whole record.
        case skipped(offset: Int, length: Int, reason: String)
        /// No more records. With resynchronization, damage that runs to the end is reported as
        /// ``Stop/damage(offset:reason:)``.
        case stop(Stop)
    }

    static let zerosReason = "zeros where records should be"

    let file: SegmentFile
    let role: Role
    let purpose: Purpose
    /// Where the segment's records must reach: the writer's end, or the file's size.
    let limit: Int
    private var scanner: SegmentScanner?
    private var stopped = false

    /// Reads `file` from `start`. The limit is the active segment's known end or the file size.
    init(file: SegmentFile, role: Role, purpose: Purpose, from start: Int = SegmentHeader.size) throws(KVError) {
        let size = try file.size()
        var limit = size
        if case .active(let end?) = role { limit = min(end, size) }
        let scanner = try SegmentScanner(file: file, from: start, limit: limit)
        self.file = file
        self.role = role
        self.purpose = purpose
        self.limit = limit
        self.scanner = consume scanner
    }

    mutating func next() throws(KVError) -> Event {
        if stopped { return .stop(.end(offset: limit)) }
        guard var current = scanner.take() else { return .stop(.end(offset: limit)) }
        let event = try current.next()
        scanner = consume current
        switch event {
        case .record(let r):
            return .record(r)
        case .end(let offset) where offset >= limit:
            return finish(.end(offset: offset))
        case .end(let offset):
            return try stop(at: offset, reason: Self.zerosReason, zeros: true)
        case .invalid(let offset, let reason):
            return try stop(at: offset, reason: reason, zeros: false)
        }
    }

    /// Acts on the rule's verdict for records that stop at `offset` before `limit`.
    private mutating func stop(at offset: Int, reason: String, zeros: Bool) throws(KVError) -> Event {
        switch Self.verdict(role: role, purpose: purpose, zeros: zeros) {
        case .end: return finish(.end(offset: offset))
        case .tornTail: return finish(.tornTail(offset: offset, reason: reason))
        case .cut: return finish(.cut(offset: offset, reason: reason))
        case .damage: return finish(.damage(offset: offset, reason: reason))
        case .resynchronize, .endUnlessARecordFollows:
            guard let next = try SegmentScanner.nextValidRecord(in: file, after: offset, end: limit) else {
                return finish(zeros && role == .standalone ? .end(offset: offset) : .damage(offset: offset, reason: reason))
            }
            scanner = try SegmentScanner(file: file, from: next, limit: limit)
            return .skipped(offset: offset, length: next - offset, reason: reason)
        }
    }

    private mutating func finish(_ stop: Stop) -> Event {
        stopped = true
        scanner = nil
        return .stop(stop)
    }
}
