import KVStore

/// Collects sets and applies them with ``Store/write(_:)`` in batches: each batch is atomic, and
/// batches stay well under a segment's size.
struct ImportBatcher {
    let store: Store
    /// Records per batch.
    var maxRecords = 1000
    /// Key and value bytes per batch (a single larger record gets a batch of its own).
    var maxBytes = 16 << 20
    private var pending: [(key: [UInt8], value: [UInt8])] = []
    private var bytes = 0
    /// Batches committed.
    private(set) var batches = 0
    /// Records committed.
    private(set) var records = 0

    init(store: Store, maxRecords: Int = 1000) {
        self.store = store
        self.maxRecords = max(1, maxRecords)
    }

    /// Adds a set, committing the pending batch first when this one would overflow it.
    mutating func set(_ value: [UInt8], forKey key: [UInt8]) throws {
        let size = key.count + value.count + 64
        if !pending.isEmpty && bytes + size > maxBytes { try flush() }
        pending.append((key, value))
        bytes += size
        if pending.count >= maxRecords { try flush() }
    }

    /// Commits what is pending.
    mutating func flush() throws {
        guard !pending.isEmpty else { return }
        let operations = pending
        try store.write { batch in
            for operation in operations { batch.set(operation.value, forKey: operation.key) }
        }
        batches += 1
        records += operations.count
        pending.removeAll(keepingCapacity: true)
        bytes = 0
    }
}
