// swift-tools-version:6.0
// One target per layer of ../shared/ARCHITECTURE.md; arrows point down only.
import PackageDescription

let package = Package(
    name: "pstrain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pstrain", targets: ["pstrain"]),
        .executable(name: "pstrain-bench", targets: ["PSBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries from Debian: libopenblas-dev and libzmq3-dev. Each is imported by exactly one Swift target.
        // zmq.h and libzmq.so sit on the default paths; libzmq's pkg-config file would add -isystem flags SwiftPM rejects.
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZeroMQ", path: "Sources/CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]),

        .target(
            name: "Numerics",
            dependencies: ["CBLAS"]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .target(name: "Models", dependencies: ["Numerics"]),
        .target(name: "Optimizers", dependencies: ["Numerics"]),
        .target(name: "Data", dependencies: ["Numerics"]),
        .target(name: "Config", dependencies: ["Models", "Optimizers", "Data", "Yams"]),
        .target(name: "Training", dependencies: ["Numerics", "Models", "Optimizers", "Data", "Config"]),
        .executableTarget(
            name: "pstrain",
            dependencies: ["Training", "Config", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "PSBench",
            dependencies: [
                "Numerics", "Models", "Optimizers", "Data",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Numerics"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Numerics"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Numerics"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "Yams"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Training"]),
    ]
)
