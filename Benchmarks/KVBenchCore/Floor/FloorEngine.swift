#if canImport(Glibc)
import Glibc
#endif

/// The `floor` engine: the physical limit of KVStore's design in Swift, for same-run ratios.
///
/// An in-memory open-addressing table maps a 64-bit key hash to a record's location in one append-only file;
/// puts go through a 1 MiB buffer; a get is one table probe, exactly one `pread` of the record and a key compare.
/// No checksums, no crash-safe index, no compaction (overwrites grow the file). At a clean close the table is
/// saved to `floor.index` (not timed by `open`'s clean close) and loaded at the next open; without it (after a
/// kill, or in `rebuild`, which removes it), open rebuilds the table by reading the whole log.
public enum FloorEngine: BenchEngine {
    public static let name = "floor"
    public static let summary = "reference: in-memory hash table → one append-only file, one pread per get"

    public static func open(directory: String, options: EngineOptions) throws -> any EngineStore {
        try FloorStore(directory: directory, options: options)
    }

    public static func dataFiles(in directory: String) -> [String] { [directory + "/floor.log"] }

    /// Removes the saved table, then opens (which rebuilds it from the log) and closes (which saves it again), as
    /// `Store.rebuildIndex` opens, rebuilds and closes.
    public static func indexRebuild(in directory: String, options: EngineOptions) -> (() throws -> Void)? {
        return {
            let path = directory + "/floor.index"
            if unlink(path) != 0 && errno != ENOENT { throw BenchError.system("unlink", path) }
            try FloorStore(directory: directory, options: options).close()
        }
    }
}
