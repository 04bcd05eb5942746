// swift-tools-version:6.0
// One target per layer of ../shared/ARCHITECTURE.md; arrows point down only.
import Foundation
import PackageDescription

// Swift's Float.squareRoot() inlines a C shim that keeps errno semantics: a scalar sqrtss with a libm fallback
// call, which stops every loop containing it from vectorising (the optimizers' update loops). Nothing here
// reads errno, and results are bit-identical. Every target gets it, because @inlinable kernels are compiled
// in the module that calls them.
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno"] + targetCPUFlags())]

/// The CPU the Swift code is compiled for. Swift compiles for baseline x86-64 (SSE2) unless told otherwise, which
/// leaves every loop of ours (activations, losses, optimizers, the server's sums) at four floats a step where
/// AVX2 does eight: the single-process MLP step runs about 1.2x as fast compiled for Haswell. So, like C's
/// `-march=native`, a build on a CPU with AVX2 and FMA targets Haswell, the first such x86 (2013). Results are
/// bit-identical either way: Swift never contracts a multiply and an add into an FMA, and a wider vector rounds
/// each element as a narrower one does. `PSTRAIN_TARGET_CPU` overrides: `x86-64` for a binary that must run on
/// any x86-64 (an image for unknown hosts), or any CPU name `swiftc -target-cpu` takes. A Haswell build of
/// `pstrain` refuses, with a message, to start on a CPU without AVX2 and FMA (`CCPUFeatures`).
func targetCPUFlags() -> [String] {
    let haswell = ["-target-cpu", "haswell", "-D", "PSTRAIN_HASWELL_BUILD"]
    if let chosen = Context.environment["PSTRAIN_TARGET_CPU"], !chosen.isEmpty {
        return chosen == "x86-64" ? [] : chosen == "haswell" ? haswell : ["-target-cpu", chosen]
    }
    #if arch(x86_64) && os(Linux)
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    return ["avx2", "fma", "bmi2", "f16c", "movbe", "popcnt"].allSatisfy(flags.contains) ? haswell : []
    #else
    return []
    #endif
}

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
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
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

        // prctl(PR_SET_PDEATHSIG) for children of `pstrain launch`, variadic in C, and the launcher's own spawn, which
        // needs a glibc extension Swift does not see: so in C.
        .target(name: "CProcessControl"),
        // Whether this CPU runs code built for Haswell, asked before any Swift code built so runs (see above).
        .target(name: "CCPUFeatures"),
        .target(
            name: "Numerics",
            dependencies: ["CBLAS"], swiftSettings: kernelFlags),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: kernelFlags),
        // Float <-> half conversion with x86's F16C instructions (compressed payloads), chosen at run time.
        .target(name: "CHalfPrecision"),
        .target(name: "Wire", dependencies: ["CHalfPrecision"], swiftSettings: kernelFlags),
        // POSIX shared memory and acquire/release atomics for payloads between processes on one host.
        .target(name: "CSharedMemory"),
        .target(name: "Transport", dependencies: ["CSharedMemory"], swiftSettings: kernelFlags),
        .target(name: "ZMQTransport", dependencies: ["Transport", "ZeroMQ"], swiftSettings: kernelFlags),
        .target(name: "Models", dependencies: ["Numerics"], swiftSettings: kernelFlags),
        .target(name: "Optimizers", dependencies: ["Numerics"], swiftSettings: kernelFlags),
        .target(name: "Data", dependencies: ["Numerics"], swiftSettings: kernelFlags),
        .target(name: "Config", dependencies: ["Models", "Optimizers", "Data", "Yams"], swiftSettings: kernelFlags),
        .target(name: "Training", dependencies: ["Numerics", "Models", "Optimizers", "Data", "Config"], swiftSettings: kernelFlags),
        .target(
            name: "Roles",
            dependencies: ["Training", "Config", "Wire", "Transport", "CProcessControl", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: kernelFlags),
        // The HTTP side of monitoring: /metrics (Prometheus) and /healthz, served on a thread of its own.
        .target(
            name: "Monitoring",
            dependencies: ["Roles", .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: kernelFlags),
        .executableTarget(
            name: "pstrain",
            dependencies: ["Training", "Config", "Data", "Roles", "Monitoring", "Wire", "Transport", "ZMQTransport", "ZeroMQ", "CProcessControl", "CCPUFeatures", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: kernelFlags),
        .executableTarget(
            name: "PSBench",
            dependencies: [
                "Numerics", "Models", "Optimizers", "Data", "Config", "Training", "Roles", "Wire", "Transport", "ZMQTransport", "ZeroMQ",
                "CCPUFeatures", "CProcessControl", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: kernelFlags),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics"], swiftSettings: kernelFlags),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Numerics"], swiftSettings: kernelFlags),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Numerics"], swiftSettings: kernelFlags),
        .testTarget(name: "DataTests", dependencies: ["Data", "Numerics"], swiftSettings: kernelFlags),
        .testTarget(name: "WireTests", dependencies: ["Wire"], swiftSettings: kernelFlags),
        .testTarget(name: "TransportTests", dependencies: ["Transport"], swiftSettings: kernelFlags),
        // Helpers shared by test targets (Python reference implementations, whether the host has IPv6).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Config", "TestSupport"], swiftSettings: kernelFlags),
        .testTarget(name: "ZMQTransportTests", dependencies: ["ZMQTransport", "ZeroMQ", "Transport", "TestSupport"], swiftSettings: kernelFlags),
        .testTarget(
            name: "RolesTests",
            dependencies: ["Roles", "Training", "Config", "Transport", "Wire", .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: kernelFlags),
        .testTarget(
            name: "MonitoringTests",
            dependencies: ["Monitoring", "Roles", "Training", "Config", "Transport", .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: kernelFlags),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "TestSupport"], swiftSettings: kernelFlags),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "Yams"], swiftSettings: kernelFlags),
        .testTarget(name: "EndToEndTests", dependencies: ["Training", "Config", "Roles", "Wire", "ZeroMQ", "ZMQTransport", "Yams", "TestSupport",
                                                          "CProcessControl"],
                    swiftSettings: kernelFlags),
    ]
)
