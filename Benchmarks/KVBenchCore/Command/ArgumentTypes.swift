import ArgumentParser

extension CompressionSetting: ExpressibleByArgument {}

extension BenchConfig.Format: ExpressibleByArgument {}

extension ZipfianOrder: ExpressibleByArgument {}

extension DurabilitySetting: ExpressibleByArgument {
    /// "process", "sync" or "periodic:MS".
    public init?(argument: String) { self.init(parsing: argument) }
}

extension MappingBudgetSetting: ExpressibleByArgument {
    /// "default", or bytes with an optional K/M/G or KiB/MiB/GiB suffix.
    public init?(argument: String) { self.init(parsing: argument) }
}
