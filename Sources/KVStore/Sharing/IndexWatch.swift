#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What a live reader that could not use the store's index watches, so that it moves over to it
/// as soon as a writer takes it (FORMAT.md §12).
///
/// Such a reader answers from a private index rebuilt at open. A writer that opens later either
/// keeps the store's `index` file and names itself in its header (``IndexHeader/writer``), or
/// renames a new one over it and marks the old one ``IndexHeader/replaced``: both show in the
/// first page of the file the reader saw, which it maps read-only and checks on every call with
/// two loads. When there is no index file to map (deleted, or too short to be one), the reader
/// compares the file's identity instead, which costs a `stat` per call: a store left in that state
/// is one nobody has opened for writing since.
final class IndexWatch: Sendable {
    private enum Source: Sendable {
        case header(MappedFile, writer: UInt64, replaced: UInt64)
        case path(String, identity: Sys.FileIdentity?)
    }

    private let source: Source

    /// Starts watching `path`. Set up before the reader reads any segment for its private index:
    /// a writer that opens in between then still shows as a change.
    init(path: String) {
        if let fd = try? Sys.open(path, O_RDONLY) {
            if let size = try? Sys.fileSize(fd), size >= Int64(IndexHeader.pageSize),
               let file = try? MappedFile(fd: fd, path: path, length: IndexHeader.pageSize, writable: false, ownsDescriptor: true) {
                source = .header(file, writer: Self.word(file, IndexHeader.writer), replaced: Self.word(file, IndexHeader.replaced))
                return
            }
            Sys.close(fd)
        }
        source = .path(path, identity: Sys.identity(ofPath: path))
    }

    /// Whether a writer has opened or replaced the index since the watch began.
    @inline(__always) var changed: Bool {
        switch source {
        case .header(let file, let writer, let replaced):
            return Self.word(file, IndexHeader.replaced) != replaced || Self.word(file, IndexHeader.writer) != writer
        case .path(let path, let identity):
            return Sys.identity(ofPath: path) != identity
        }
    }

    @inline(__always) private static func word(_ file: MappedFile, _ offset: Int) -> UInt64 {
        (file.base + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring).littleEndianValue
    }
}
