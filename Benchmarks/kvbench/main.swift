import KVBenchCore

// kvbench with the root package's engines (kvstore, floor). Benchmarks/Peers builds the same command with
// LMDB, LevelDB, RocksDB and SQLite added.
KVBenchCommand.main()
