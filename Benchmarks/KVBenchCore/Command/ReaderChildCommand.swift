import ArgumentParser

/// `kvbench reader-child <job>`: the hidden reader process of `--processes` (see `ReaderChild`). The job is one JSON
/// argument, so that nothing in it can be mistaken for the parent command's options.
struct ReaderChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reader-child",
        abstract: "Internal: a reader process of kvbench --processes.",
        shouldDisplay: false
    )

    @Argument var job: String

    func run() throws {
        let job: ReaderJob
        do {
            job = try ReaderJob(json: try JSONValue.parse(self.job))
        } catch {
            StandardStreams.output(ReaderChild.errorPrefix + "\(error)\n")
            throw ExitCode.failure
        }
        // The error is already on stdout, where the parent reads it.
        do { try ReaderChild.run(job) } catch { throw ExitCode.failure }
    }
}
