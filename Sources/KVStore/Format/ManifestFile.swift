import Synchronization

/// The `STORE` file of an open store, and the one place it is ever rewritten: to record a feature
/// before the first file that uses it is written (FORMAT.md §2.1, §9).
///
/// The rewrite is atomic (temporary file, sync, rename, directory sync), keeps every bit it does
/// not add (unknown ones included) and raises the minor version to this build's. A crash leaves the
/// old file or the new one; either describes the store, because the feature's files come after.
final class ManifestFile: Sendable {
    let directory: String
    private let current: Mutex<Manifest>

    init(directory: String, manifest: Manifest) {
        self.directory = directory
        self.current = Mutex(manifest)
    }

    var manifest: Manifest { current.withLock { $0 } }

    /// Makes sure the `STORE` file lists `bits` among its compatible features.
    func recordCompatibleFeatures(_ bits: UInt16) throws(KVError) {
        try record { $0.compatibleFeatures |= bits }
    }

    /// Makes sure the `STORE` file lists `bits` among its incompatible features: from then on,
    /// builds that do not know them refuse the store.
    func recordIncompatibleFeatures(_ bits: UInt32) throws(KVError) {
        try record { $0.incompatibleFeatures |= bits }
    }

    private func record(_ change: (inout Manifest) -> Void) throws(KVError) {
        try current.withLock { (manifest) throws(KVError) in
            var updated = manifest
            change(&updated)
            guard updated != manifest else { return }
            updated.formatMinor = max(updated.formatMinor, FormatVersion.minor)
            try writeFileAtomically(path: directory + "/" + FileNames.manifest, bytes: updated.encode(), directory: directory)
            manifest = updated
        }
    }
}
