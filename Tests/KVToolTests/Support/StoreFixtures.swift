import Foundation
import KVStore

/// Stores for the tests, made and read with the library itself.
enum Fixtures {
    /// Small segments (so a few hundred records fill several), no automatic compaction (so the
    /// files stay as written).
    static func configuration(compression: Store.Compression = .none) -> Store.Configuration {
        var configuration = Store.Configuration()
        configuration.segmentSize = 64 << 10
        configuration.compression = compression
        configuration.automaticCompaction = nil
        return configuration
    }

    /// Creates a store at `path`, lets `body` fill it, and closes it cleanly.
    static func makeStore(_ path: String, compression: Store.Compression = .none, _ body: (Store) throws -> Void) throws {
        let store = try Store(path: path, configuration: configuration(compression: compression))
        try body(store)
        try store.close()
    }

    /// A store with `count` keys `key-0000`… of 100-byte values, written twice (so the first
    /// segments are half dead), in several segments.
    static func makeOverwrittenStore(_ path: String, count: Int = 600) throws {
        try makeStore(path) { store in
            for round in 0..<2 {
                for i in 0..<count { try store.set(value(i, round: round), forKey: key(i)) }
            }
        }
    }

    /// `count` keys written once, in several segments; then one byte of the first record's value
    /// flipped in the first segment, and 4 KiB zeroed inside the second from the record at 8240
    /// on (its records are 144 bytes; both segments sealed). Returns the first segment's path.
    @discardableResult
    static func makeDamagedStore(_ path: String, count: Int = 1500) throws -> String {
        try makeStore(path) { store in
            for i in 0..<count { try store.set(value(i, round: 0), forKey: key(i)) }
        }
        let files = segments(path)
        precondition(files.count >= 3, "the damage must be in sealed segments")
        try flipByte(files[0], at: 32 + 32 + 8 + 10)
        try overwrite(files[1], at: 32 + 57 * 144, with: [UInt8](repeating: 0, count: 4096))
        return files[0]
    }

    /// The records of each segment file that still check out, as `kvtool dump` finds them.
    static func intactRecords(_ store: String) throws -> [Int] {
        try segments(store).map { file in
            try KVTool.run("dump", file, "--format", "json").jsonLines.filter { $0["event"] as? String == "record" }.count
        }
    }

    static func key(_ i: Int) -> String { "key-" + String(repeating: "0", count: max(0, 4 - String(i).count)) + String(i) }
    static func value(_ i: Int, round: Int) -> [UInt8] { Array("value \(i) round \(round) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: 80) }

    /// Every live pair, read with the library.
    static func contents(_ path: String) throws -> [[UInt8]: [UInt8]] {
        let store = try Store(path: path, configuration: configuration())
        defer { try? store.close() }
        var result: [[UInt8]: [UInt8]] = [:]
        var cursor = try store.entries()
        while let (key, value) = try cursor.next() { result[key] = value }
        return result
    }

    /// The segment files of a store, oldest first.
    static func segments(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".seg") }.sorted().map { path + "/" + $0 }
    }

    /// Inverts the bits of one byte of a file.
    static func flipByte(_ path: String, at offset: Int) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let byte = try handle.read(upToCount: 1)?.first ?? 0
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: [~byte])
    }

    /// Writes `bytes` at `offset` of a file.
    static func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: bytes)
    }

    /// Copies a directory's files (a store copied while open looks like one whose writer was killed).
    /// A file that goes away before it is copied is left out: the open store's background sealer
    /// renames each hint file into place from a temporary one.
    static func copyFiles(from source: String, to destination: String) throws {
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            do {
                try FileManager.default.copyItem(atPath: source + "/" + name, toPath: destination + "/" + name)
            } catch where !FileManager.default.fileExists(atPath: source + "/" + name) {
                try? FileManager.default.removeItem(atPath: destination + "/" + name)
            }
        }
    }

    /// CRC-32C, bit by bit (FORMAT.md §2), to forge headers in tests.
    static func crc32c(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    /// Rewrites a STORE file with another format major version and a valid checksum.
    static func setFormatMajor(ofStoreFile path: String, to major: UInt16) throws {
        var bytes = Array(FileManager.default.contents(atPath: path) ?? Data())
        bytes[8] = UInt8(major & 0xFF)
        bytes[9] = UInt8(major >> 8)
        let crc = crc32c(bytes[0..<44])
        for i in 0..<4 { bytes[44 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// Holds a store's lock from another process (`flock(1)`) until released.
final class LockHolder {
    private let process = Process()

    init(store: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        // -o: only flock itself holds the lock (not its `sleep`), so terminating it releases it.
        process.arguments = ["-x", "-o", store + "/LOCK", "sleep", "5"]
        try process.run()
        var tries = 0
        while try !Self.isHeld(store), tries < 500 {
            usleep(10_000)
            tries += 1
        }
    }

    /// Whether another process holds the lock (a non-blocking `flock -n` fails).
    static func isHeld(_ store: String) throws -> Bool {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        probe.arguments = ["-n", "-x", store + "/LOCK", "true"]
        try probe.run()
        probe.waitUntilExit()
        return probe.terminationStatus != 0
    }

    func release() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { release() }
}
