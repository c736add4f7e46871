import Dispatch
import Synchronization

/// Finishes sealed segments in the background: makes each durable (oldest first, through the
/// ``SyncCoordinator``), then writes its hint file. Keeps that I/O off the put path.
final class Sealer: Sendable {
    private let queue = DispatchQueue(label: "KVStore.sealer")
    private let directory: String
    private let storeID: UInt64
    private let coordinator: SyncCoordinator
    private let manifest: ManifestFile
    private let onSealed = Mutex<(@Sendable () -> Void)?>(nil)

    /// Called (on the sealer's queue) after each sealed segment is durable and hinted.
    func setOnSealed(_ action: @escaping @Sendable () -> Void) { onSealed.withLock { $0 = action } }

    init(directory: String, storeID: UInt64, coordinator: SyncCoordinator, manifest: ManifestFile) {
        self.directory = directory
        self.manifest = manifest
        self.storeID = storeID
        self.coordinator = coordinator
    }

    /// Queues a segment that will never be written again.
    func seal(_ segment: SegmentFile) {
        queue.async { [self] in
            // A failed sync is recorded by the coordinator and fails later writes; no hint then.
            guard (try? coordinator.syncSealed(segment)) != nil else { return }
            // Durable and immutable: its descriptor may be closed like any reader's.
            segment.lifecycle.advance(to: .durable)
            segment.unpin()
            writeHint(segment)
            onSealed.withLock { $0 }?()
        }
    }

    /// Queues hint files for sealed segments that lack one (after a crash), once they are durable:
    /// a hint must never describe records that a power loss could take back.
    func writeMissingHints(_ segments: [SegmentFile]) {
        queue.async { [self] in
            guard let last = segments.last, (try? coordinator.syncSealed(last)) != nil else { return }
            for segment in segments {
                segment.lifecycle.advance(to: .durable)
                segment.unpin()
                writeHint(segment)
            }
        }
    }

    private func writeHint(_ segment: SegmentFile) {
        do {
            // The compact layout is a compatible feature: on record before the first such file.
            try manifest.recordCompatibleFeatures(Features.compactHints)
            try HintFile.build(segment: segment, storeID: storeID, directory: directory)
            segment.lifecycle.advance(to: .hinted)
        } catch {
            // Hints only speed up rebuilds; without one the segment is scanned instead, and
            // compaction leaves it alone (it takes only hinted segments).
        }
    }

    /// Waits until everything queued so far is done.
    func drain() { queue.sync {} }
}
