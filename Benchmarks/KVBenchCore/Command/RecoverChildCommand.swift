import ArgumentParser

/// `kvbench recover-child …`: the hidden child process of the `recover` benchmark (see `RecoverChild`). Its
/// arguments are positional so that they cannot be mistaken for the parent command's options.
struct RecoverChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover-child",
        abstract: "Internal: the process that the recover benchmark writes with and kills.",
        shouldDisplay: false
    )

    @Argument var engine: String
    @Argument var directory: String
    @Argument var num: Int
    @Argument var keySize: Int
    @Argument var valueSize: Int
    @Argument var compressionRatio: Double
    @Argument var compression: CompressionSetting
    @Argument var durability: DurabilitySetting
    @Argument var seed: UInt64
    @Argument var mappingBudget: MappingBudgetSetting

    func run() throws {
        var config = BenchConfig()
        config.num = num
        config.keySize = keySize
        config.valueSize = valueSize
        config.compressionRatio = compressionRatio
        config.compression = compression
        config.durability = durability
        config.seed = seed
        config.mappingBudget = mappingBudget
        try RecoverChild.run(engine: try EngineRegistry.engine(named: engine), directory: directory, config: config)
    }
}
