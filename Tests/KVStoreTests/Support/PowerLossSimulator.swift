@testable import KVStore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Simulates the loss of power through the file layer (as LevelDB's fault-injection env does).
///
/// It watches every sync the store makes on files in its directory (through ``SystemHookRouter``):
/// just before an `fdatasync`, `fsync` or `msync` runs it copies the file, and once the call has
/// succeeded that copy becomes what the "disk" holds for the file. Bytes written during the sync
/// call are therefore counted as lost, which is the adversarial choice. A directory `fsync` records
/// which names are durable.
///
/// ``powerLoss(using:)``, called after the store was abandoned with `simulateCrash()`, then puts
/// the directory into a state the disk could be in after the machine died:
/// - a file whose name was not in the directory at its last sync is removed;
/// - a segment goes back to its last synced bytes (if never synced: empty, or its header only), or, in
///   ``SegmentMode/pageMix``, to any mix of its synced and current 4 KiB pages (the kernel writes
///   dirty pages back whenever it likes, in any order), with either length;
/// - the index becomes any mix of its last synced and current 4 KiB pages;
/// - other files (STORE, hints) go back to their last synced bytes.
/// Afterwards every file counts as synced (the state is what the disk holds after the reboot).
final class PowerLossSimulator: Sendable {
    enum SegmentMode: CaseIterable, Sendable {
        /// Exactly the bytes of the last sync.
        case synced
        /// Any mix of synced and current pages.
        case pageMix
    }

    struct Outcome: CustomStringConvertible {
        var removed: [String] = []
        var rolledBack: [String] = []
        var mixed: [String] = []
        var description: String { "removed \(removed), rolled back \(rolledBack), page-mixed \(mixed)" }
    }

    private struct Pending {
        var name: String
        var bytes: [UInt8]?
        var names: Set<String>?
    }

    private struct State {
        var synced: [String: [UInt8]] = [:]
        var durableNames: Set<String> = []
        var pending: [String: Pending] = [:]
        var syncCount = 0
    }

    let directory: String
    private let state = Mutex(State())

    /// Starts watching `directory` (which must exist). Call before opening the store in it.
    init(directory: String) throws {
        self.directory = directory
        try markEverythingDurable()
        SystemHookRouter.shared.register(
            directory: directory,
            injector: { [self] call, path in
                switch call {
                case .fdatasync, .fsync, .msync: if let path { beforeSync(path) }
                case .rename: if let path { renamed(to: path) }
                default: break
                }
                return nil
            },
            syncObserver: { [self] path in afterSync(path) })
    }

    func stop() {
        SystemHookRouter.shared.unregister(directory: directory)
    }

    /// How many syncs succeeded so far.
    var syncCount: Int { state.withLock { $0.syncCount } }

    /// Treats the directory as it is now as what the disk holds.
    func markEverythingDurable() throws {
        var synced: [String: [UInt8]] = [:]
        let names = try FileSurgery.names(in: directory)
        for name in names { synced[name] = try FileSurgery.read(directory + "/" + name) }
        state.withLock {
            $0.synced = synced
            $0.durableNames = Set(names)
            $0.pending = [:]
        }
    }

    // MARK: - Hooks (called with SystemHooks' lock held: plain POSIX only)

    private func name(of path: String) -> String {
        String(path.split(separator: "/").last ?? "")
    }

    private func beforeSync(_ path: String) {
        if path == directory {
            let names = Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            state.withLock { $0.pending[path] = Pending(name: "", bytes: nil, names: names) }
            return
        }
        var name = name(of: path)
        var readPath = path
        // A file renamed after it was opened (index.tmp -> index) is still known by its old path.
        if name.hasSuffix(FileNames.temporarySuffix) && !FileSurgery.exists(path) {
            name = String(name.dropLast(FileNames.temporarySuffix.count))
            readPath = directory + "/" + name
        }
        let bytes = try? FileSurgery.read(readPath)
        state.withLock { $0.pending[path] = Pending(name: name, bytes: bytes, names: nil) }
    }

    private func afterSync(_ path: String) {
        state.withLock { state in
            guard let pending = state.pending.removeValue(forKey: path) else { return }
            state.syncCount += 1
            if let names = pending.names { state.durableNames = names }
            if let bytes = pending.bytes { state.synced[pending.name] = bytes }
        }
    }

    /// `rename(x.tmp, x)`: what was synced under the temporary name is now the file's content (the
    /// name itself becomes durable with the next directory sync, which every rename here is followed by).
    private func renamed(to path: String) {
        let target = name(of: path)
        state.withLock { state in
            if let bytes = state.synced.removeValue(forKey: target + FileNames.temporarySuffix) { state.synced[target] = bytes }
        }
    }

    // MARK: - The crash

    /// Applies a power loss to the directory. The store must have been abandoned first.
    @discardableResult
    func powerLoss(using rng: inout SplitMix64, segmentMode: SegmentMode) throws -> Outcome {
        let (synced, durableNames) = state.withLock { ($0.synced, $0.durableNames) }
        var outcome = Outcome()
        for name in try FileSurgery.names(in: directory) where name != FileNames.lock {
            let path = directory + "/" + name
            guard durableNames.contains(name) else {
                try FileSurgery.remove(path)
                outcome.removed.append(name)
                continue
            }
            let current = try FileSurgery.read(path)
            let old = synced[name]
            if name.hasSuffix(FileNames.segmentSuffix) {
                // Never synced: nothing survived, or only the header (written first, in its own page).
                let base = old ?? (Bool.random(using: &rng) ? [] : Array(current.prefix(SegmentHeader.size)))
                if segmentMode == .pageMix {
                    let mixed = Self.mixPages(base, current, using: &rng)
                    if mixed != current { try FileSurgery.write(mixed, to: path); outcome.mixed.append(name) }
                } else if base != current {
                    try FileSurgery.write(base, to: path)
                    outcome.rolledBack.append(name)
                }
            } else if name == FileNames.index {
                let mixed = Self.mixPages(old ?? [], current, using: &rng)
                if mixed != current { try FileSurgery.write(mixed, to: path); outcome.mixed.append(name) }
            } else if let old, old != current {
                try FileSurgery.write(old, to: path)
                outcome.rolledBack.append(name)
            }
        }
        try markEverythingDurable()
        return outcome
    }

    /// Any length of the two, each 4 KiB page from either (zeros past a version's end).
    static func mixPages(_ a: [UInt8], _ b: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        let length = Bool.random(using: &rng) ? a.count : b.count
        var out = [UInt8](repeating: 0, count: length)
        let page = 4096
        var start = 0
        while start < length {
            let end = min(length, start + page)
            let source = Bool.random(using: &rng) ? a : b
            if start < source.count {
                let upper = min(end, source.count)
                out.replaceSubrange(start ..< upper, with: source[start ..< upper])
            }
            start = end
        }
        return out
    }
}
