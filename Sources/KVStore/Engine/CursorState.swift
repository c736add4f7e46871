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
        nextSegmentID = try engine.views.get().segments.baseID
    }

    func next(wantValue: Bool) throws(KVError) -> (key: [UInt8], value: [UInt8]?)? {
        while true {
            if scanner == nil {
                let view = try engine.views.get()
                guard let file = view.segments.all.first(where: { $0.id >= nextSegmentID }) else { return nil }
                let covered = view.index.covered
                let role: LogReader.Role = file.id == covered.segmentID ? .active(end: covered.offset) : .sealed(hinted: true)
                scanner = ScannerBox(try LogReader(file: file, role: role, purpose: .inspect(resynchronize: false)))
                nextSegmentID = file.id + 1
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
                guard let value = LZ4.decompressed(r.storedValue, rawLength: r.header.rawValueLength) else {
                    throw KVError.corruption("compressed value does not decompress", path: box.scanner.file.path, offset: Int64(r.offset))
                }
                return (key, value)
            }
        }
    }

    /// Whether the index still points at this very record (then it is the key's latest).
    private func isLive(_ r: SegmentScanner.Record, segment: SegmentFile) throws(KVError) -> Bool {
        try engine.views.get().index.slot(pointingAt: segment.id, offset: r.offset, hash: engine.hasher.hash(r.key)) != nil
    }
}
