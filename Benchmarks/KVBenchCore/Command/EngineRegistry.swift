import Synchronization

/// The engines `kvbench` can run: `kvstore` and `floor` unless `KVBenchCommand.main(engines:)` says otherwise.
enum EngineRegistry {
    private static let storage = Mutex<[any BenchEngine.Type]>([KVStoreEngine.self, FloorEngine.self])

    /// The available engines.
    static var engines: [any BenchEngine.Type] {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }

    /// The engine called `name`.
    static func engine(named name: String) throws -> any BenchEngine.Type {
        guard let engine = engines.first(where: { $0.name == name }) else {
            throw BenchError("unknown engine \"\(name)\"; available: \(engines.map { $0.name }.joined(separator: ", "))")
        }
        return engine
    }
}
