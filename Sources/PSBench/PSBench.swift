import ArgumentParser
import CCPUFeatures

@main
struct PSBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pstrain-bench",
        abstract: "Release-build benchmarks of pstrain; each figure is measured beside a reference in the same run.",
        discussion: "Build with `swift build -c release` and run .build/release/pstrain-bench, or use bench/compute.sh.",
        subcommands: [ComputeBenchmark.self, CommunicationBenchmark.self, CommunicationPeer.self, CodecBenchmark.self])

    /// Built for Haswell like `pstrain`, it refuses a CPU without AVX2 the same way, before any of its Swift runs.
    static func main() {
        #if PSTRAIN_HASWELL_BUILD
        pstrain_require_haswell()
        #endif
        main(nil)
    }
}
