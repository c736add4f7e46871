#if canImport(Glibc)
import Glibc
#endif
import KVBenchCore

/// The peer engines, configured as in shared/peers/README.md ("Backend settings") so that our ratios can be read
/// next to that baseline.
public enum PeerEngines {
    /// lmdb, leveldb, rocksdb, sqlite.
    public static let all: [any BenchEngine.Type] = [LMDBEngine.self, LevelDBEngine.self, RocksDBEngine.self,
                                                     SQLiteEngine.self]
}

/// Writes a note to stderr.
func warn(_ text: String) {
    var line = "kvbench: " + text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Puts of one write transaction for engines that batch (LMDB, SQLite): 1000, or 1 when every write must be
/// durable.
func transactionBatch(_ options: EngineOptions) -> Int {
    switch options.durability {
    case .sync: return 1
    case .process: return 1000
    case .periodic:
        warn("periodic durability is not modelled for the peers; they run as with process durability")
        return 1000
    }
}

extension UnsafeRawBufferPointer {
    /// Adds the first and last byte to `checksum`, as every engine's get does.
    @inline(__always)
    func touch(_ checksum: inout UInt64) {
        if count > 0 {
            checksum &+= UInt64(load(fromByteOffset: 0, as: UInt8.self))
                &+ UInt64(load(fromByteOffset: count - 1, as: UInt8.self))
        }
    }
}

/// `fsync`s a file if it exists.
func fsyncFile(_ path: String) throws {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        if errno == ENOENT { return }
        throw BenchError("open \(path): errno \(errno)")
    }
    defer { close(fd) }
    if fsync(fd) != 0 { throw BenchError("fsync \(path): errno \(errno)") }
}
