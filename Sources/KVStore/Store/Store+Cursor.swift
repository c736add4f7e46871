extension Store {
    /// A throwing cursor over the live key-value pairs of a store, in no particular order.
    ///
    /// ```swift
    /// var cursor = try store.entries()
    /// while let (key, value) = try cursor.next() { … }
    /// ```
    /// The cursor reads the segment files sequentially and yields each record that is still the
    /// key's latest. Keys not written during the iteration are yielded exactly once, unless a
    /// compaction moves them meanwhile; a key set, removed or moved while the cursor runs may be
    /// missed or yielded twice.
    public struct Cursor {
        let state: CursorState

        /// The next pair, or `nil` at the end.
        /// - Throws: ``KVError/Code/corruption`` for a damaged record, ``KVError/Code/closed``.
        public mutating func next() throws -> (key: [UInt8], value: [UInt8])? {
            try state.next(wantValue: true).map { ($0.key, $0.value ?? []) }
        }
    }

    /// A throwing cursor over the live keys of a store, in no particular order. See ``Cursor``.
    public struct KeyCursor {
        let state: CursorState

        /// The next key, or `nil` at the end.
        public mutating func next() throws -> [UInt8]? {
            try state.next(wantValue: false).map { $0.key }
        }
    }

    /// A cursor over every live key and its value.
    public func entries() throws -> Cursor { Cursor(state: try CursorState(engine: engine)) }

    /// A cursor over every live key.
    public func keys() throws -> KeyCursor { KeyCursor(state: try CursorState(engine: engine)) }
}

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
        let index = try engine.views.get().index
        let hash = engine.hasher.hash(r.key)
        return index.probe(hash: hash) { (_, word) -> Bool? in
            let location = Location(word: word)
            return location.segmentID == segment.id && location.offset == r.offset ? true : nil
        } ?? false
    }
}
