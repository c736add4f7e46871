import Foundation

/// Every file's name, size and bytes (as a 64-bit FNV-1a hash) in a directory: equal snapshots
/// before and after a command mean it changed nothing there.
struct DirectorySnapshot: Equatable, CustomStringConvertible {
    var files: [String: [UInt64]]

    init(_ path: String) {
        files = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names {
            let data = FileManager.default.contents(atPath: path + "/" + name) ?? Data()
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in data {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            files[name] = [UInt64(data.count), hash]
        }
    }

    var description: String {
        files.keys.sorted().map { "\($0): \(files[$0]![0]) bytes, hash \(String(files[$0]![1], radix: 16))" }.joined(separator: "; ")
    }
}
