// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swift-kvstore",
    products: [
        .library(name: "KVStore", targets: ["KVStore"]),
        // Typed values over the byte API (Codable through a coder, Data, integers, Double); uses
        // Foundation, which the core does not.
        .library(name: "KVStoreTyped", targets: ["KVStoreTyped"]),
        .executable(name: "kvbench", targets: ["kvbench"]),
        .executable(name: "kvtool", targets: ["kvtool"]),
        // For the peers' nested package (Benchmarks/Peers), which builds kvbench with more engines.
        .library(name: "KVBenchCore", targets: ["KVBenchCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // `swift package generate-documentation --target KVStore` (a plugin: nothing of it is linked).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // The system liblz4 (Debian: liblz4-dev).
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]
        ),
        // Hardware CRC32C: the one piece of the read path Swift cannot express (SSE4.2 / ARMv8 CRC).
        .target(name: "CKVSupport"),
        .target(
            name: "KVStore",
            dependencies: ["CLZ4", "CKVSupport"],
            exclude: ["Format/FORMAT.md"],
            swiftSettings: [
                // Invariant checks (…+Invariants.swift) and the fault-injection hooks of the system
                // layer: debug builds only, so that a release build of a client pays for neither.
                .define("KVSTORE_INTERNAL_CHECKS", .when(configuration: .debug)),
                .define("KVSTORE_FAULT_HOOKS", .when(configuration: .debug)),
            ]
        ),
        .target(name: "KVStoreTyped", dependencies: ["KVStore"]),
        // The benchmark driver is a library so that the peers' nested package (Benchmarks/Peers)
        // builds the same `kvbench` with more engines without forking the workload code.
        .target(
            name: "KVBenchCore",
            dependencies: [
                "KVStore",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/KVBenchCore"
        ),
        .executableTarget(name: "kvbench", dependencies: ["KVBenchCore"], path: "Benchmarks/kvbench"),
        // A child process for crash tests: writes to a store and logs acknowledged writes until killed.
        .executableTarget(name: "kvstore-crash-child", dependencies: ["KVStore"], path: "Tests/CrashChild"),
        // kvtool: inspect, verify, repair, export and import a store. The commands live in a library
        // so that they stay testable; the executable is a thin entry point.
        .target(
            name: "KVToolCore",
            dependencies: ["KVStore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/KVToolCore"
        ),
        .executableTarget(name: "kvtool", dependencies: ["KVToolCore"], path: "Tools/kvtool"),
        .testTarget(name: "KVStoreTests", dependencies: ["KVStore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KVStoreAPITests", dependencies: ["KVStore"]),
        .testTarget(name: "KVStoreTypedTests", dependencies: ["KVStoreTyped", "KVStore"]),
        .testTarget(name: "KVBenchTests", dependencies: ["KVBenchCore"]),
        // Runs the built `kvtool` binary as a subprocess (SwiftPM builds every executable of the
        // package along with the tests).
        .testTarget(name: "KVToolTests", dependencies: ["KVToolCore", "KVStore"]),
    ],
    swiftLanguageModes: [.v6]
)
