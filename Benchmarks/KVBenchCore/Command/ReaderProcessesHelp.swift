/// The `--processes` section of `kvbench --help`.
enum ReaderProcessesHelp {
    static var text: String {
        let able = EngineRegistry.engines.filter { $0.hasReaderProcesses }.map { $0.name }
        let rows: [(String, String)] = [
            ("readrandom, readmissing, readhot, readseq, ycsb-c",
             "run in the N reader processes (--reads shared out among all their threads)"),
            ("readwhilewriting, readwhilecompacting",
             "readrandom in the N reader processes while a thread of kvbench overwrites random keys (the writer's "
                + "puts/s are in the note) or compacts"),
            ("fillseq, fillrandom, overwrite, deleterandom, fillsync",
             "kvbench writes as without --processes while the N reader processes do readrandom in the background "
                + "until it is done: ops/sec is the writer's, the readers' gets/s are in the note (the writer alone: "
                + "the same run without --processes)"),
            ("ycsb-a, ycsb-b, ycsb-d, ycsb-f", "N/A: they write, and a reader process only reads"),
            ("open, rebuild, recover, compact", "as without --processes"),
        ]
        return """
            Reader processes (--processes N, N ≥ 1): kvbench keeps the store open for writing and starts N copies of \
            itself that open it read-only beside it (kvstore: Store.Configuration.readOnly, a live reader), each with \
            --threads threads. They start together on a signal and report back; ops/sec is all their operations over \
            the time from the first one's start to the last one's end, latencies are merged, and an "open (reader)" \
            row and the note give the time each took to open the store. Engines: \(able.joined(separator: ", ")); \
            --processes is refused for the others.
            """ + rows.map { "\n- " + $0.0 + ": " + $0.1 + "." }.joined()
    }
}
