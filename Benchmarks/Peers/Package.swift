// swift-tools-version: 6.0
// kvbench with the peer engines: the root package's KVBenchCore (same driver, workloads and report) plus LMDB,
// LevelDB, RocksDB and SQLite through Debian's -dev packages. Kept out of the root package so that the root, its
// tests and CI build without these libraries. Build and compare with ./compare.sh.
import PackageDescription

// The root package (its manifest names itself swift-kvstore) must export KVBenchCore as a library product.
let kvbenchCore = Target.Dependency.product(name: "KVBenchCore", package: "swift-kvstore")

let package = Package(
    name: "kvbench-peers",
    products: [
        .executable(name: "kvbench-peers", targets: ["kvbench-peers"]),
    ],
    dependencies: [
        // `name:` makes the product reference independent of the folder the repository is cloned into.
        .package(name: "swift-kvstore", path: "../.."),
    ],
    targets: [
        .systemLibrary(name: "CLMDB", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
        .systemLibrary(name: "CRocksDB", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "PeerEngines",
            dependencies: [kvbenchCore, "CLMDB", "CLevelDB", "CRocksDB", "CSQLite"]
        ),
        // Named kvbench-peers: a second `kvbench` product or target would clash with the root package's.
        .executableTarget(name: "kvbench-peers", dependencies: ["PeerEngines", kvbenchCore]),
    ],
    swiftLanguageModes: [.v6]
)
