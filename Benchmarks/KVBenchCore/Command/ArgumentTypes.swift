import ArgumentParser

extension CompressionSetting: ExpressibleByArgument {}

extension BenchConfig.Format: ExpressibleByArgument {}

extension DurabilitySetting: ExpressibleByArgument {
    /// "process", "sync" or "periodic:MS".
    public init?(argument: String) { self.init(parsing: argument) }
}
