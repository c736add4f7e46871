import KVStore

/// A store kept open by the test process while the tool looks at a copy of it.
final class KVStoreHandle {
    private let store: Store

    init(path: String) throws {
        store = try Store(path: path, configuration: Fixtures.configuration())
    }

    /// 600 keys written twice: several segments, the last one active and preallocated.
    func fill() throws {
        for round in 0..<2 {
            for i in 0..<600 { try store.set(Fixtures.value(i, round: round), forKey: Fixtures.key(i)) }
        }
    }

    func close() { try? store.close() }
}
