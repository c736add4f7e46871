import KVBenchCore
import PeerEngines

// The same kvbench command as the root package's, with the peer engines added.
KVBenchCommand.main(engines: [KVStoreEngine.self, FloorEngine.self] + PeerEngines.all)
