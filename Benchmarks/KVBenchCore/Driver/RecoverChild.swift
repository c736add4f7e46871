#if canImport(Glibc)
import Glibc
#endif

/// The child side of `recover`: a kvbench started with the hidden `recover-child` subcommand writes `--num` keys
/// in fillrandom order into a new store, commits what the engine batches, prints `ready`, and waits to be killed.
enum RecoverChild {
    /// The line the child prints when every write has returned.
    static let readyLine = "ready"

    /// The child's command line (after the executable).
    static func arguments(engine: String, directory: String, config: BenchConfig) -> [String] {
        [
            "recover-child", engine, directory, String(config.num), String(config.keySize), String(config.valueSize),
            String(config.compressionRatio), config.compression.rawValue, config.durability.description,
            String(config.seed), config.mappingBudget.description,
        ]
    }

    /// Writes, reports, and blocks until killed (never returns normally).
    static func run(engine: any BenchEngine.Type, directory: String, config: BenchConfig) throws -> Never {
        try FileSystem.makeDirectories(directory)
        let store = try engine.open(directory: directory, options: config.engineOptions())
        let session = try store.makeSession()
        let keys = KeyBuffer(size: config.keySize)
        var values = ValueCursor(data: ValueData(valueSize: config.valueSize, compressionRatio: config.compressionRatio),
                                 size: config.valueSize)
        for number in KeyOrder.permutation(count: config.num, seed: OrderSeeds(base: config.seed).fill) {
            keys.set(UInt64(number))
            try session.put(key: keys.bytes, value: values.next())
        }
        try session.finish()
        StandardStreams.output(readyLine + "\n")
        while true { pause() }
    }
}
