#if canImport(Glibc)
import Glibc
#endif

/// The moving part of a cursor: which segment it is in and the scanner over it.
final class CursorState {
    private let engine: StoreEngine
    private var nextSegmentID: UInt32
    private var scanner: ScannerBox?

    /// `LogReader` is non-copyable; the box lets it live in an optional property.
    private final class ScannerBox {
        var scanner: LogReader
        init(_ scanner: consuming LogReader) { self.scanner = scanner }
    }

    init(engine: StoreEngine) throws(KVError) {
        self.engine = engine
        var view = try engine.views.get()
        if let live = engine.live { view = try live.current(view) }
        nextSegmentID = view.segments.baseID
    }

    func next(wantValue: Bool) throws(KVError) -> (key: [UInt8], value: [UInt8]?)? {
        while true {
            if scanner == nil {
                guard let file = try nextSegment() else { return nil }
                nextSegmentID = file.id + 1
                // Read after the segment was found: a segment past `covered` is one a live
                // writer created since, whose records may not be covered yet.
                let covered = try engine.views.get().index.covered
                let role: LogReader.Role = file.id == covered.segmentID ? .active(end: covered.offset)
                    : file.id > covered.segmentID ? .active(end: SegmentHeader.size) : .sealed(hinted: true)
                do {
                    scanner = ScannerBox(try LogReader(file: file, role: role, purpose: .inspect(resynchronize: false)))
                } catch where engine.live != nil && error.errno == ENOENT {
                    // Compaction deleted it before the scan got there; its live records were
                    // copied to the end of the log, which the scan reaches later.
                    continue
                }
            }
            let box = scanner!
            switch try box.scanner.next() {
            case .stop(.end), .skipped:
                scanner = nil
            case .stop(let stop):
                scanner = nil
                throw KVError.corruption(stop.reason ?? "damaged", path: box.scanner.file.path, offset: Int64(stop.offset))
            case .record(let r):
                guard r.header.kind == .put, try isLive(r, segment: box.scanner.file) else { continue }
                let key = Array(r.key)
                guard wantValue else { return (key, nil) }
                if !r.header.isCompressed { return (key, Array(r.storedValue)) }
                return (key, try engine.dictionaries.decompressed(r.storedValue, header: r.header, path: box.scanner.file.path,
                                                                  offset: r.offset))
            }
        }
    }

    /// The first segment from `nextSegmentID` on. A live reader lists the directory again before
    /// it says there is none: the writer may have rolled to segments its view does not list yet.
    private func nextSegment() throws(KVError) -> SegmentFile? {
        if let file = try engine.views.get().segments.all.first(where: { $0.id >= nextSegmentID }) { return file }
        guard let live = engine.live else { return nil }
        return try live.refreshSegments().segments.all.first(where: { $0.id >= nextSegmentID })
    }

    /// Whether the index still points at this very record (then it is the key's latest).
    private func isLive(_ r: SegmentScanner.Record, segment: SegmentFile) throws(KVError) -> Bool {
        var view = try engine.views.get()
        if let live = engine.live { view = try live.current(view) }
        return view.index.slot(pointingAt: segment.id, offset: r.offset, hash: engine.hasher.hash(r.key)) != nil
    }
}
