import ArgumentParser
import Data
import Foundation
import Models
import Numerics
import Optimizers

/// Training samples per second of one process's step, beside the sgemm bound for the same shapes.
struct ComputeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute",
        abstract: "Samples/s of the MLP training step (Adam) against the sgemm-only bound for the same shapes.",
        discussion: """
            A training step is gather, forward, backward, global-norm measurement and the Adam update. The bound \
            times only the step's eight sgemm calls on the same shapes, so the ratio says how much of the time \
            the rest of the step costs.
            """)

    @Option(help: "Model: mlp (784-256-128-10), softmax (784→10) or linear (regression 1000→1); --layers overrides mlp's widths.")
    var model = "mlp"
    @Option(help: "Layer widths of the MLP, input first.") var layers = "784,256,128,10"
    @Option(help: "Batch sizes to measure.") var batches = "32,128,512"
    @Option(help: "OpenBLAS threads.") var threads = 1
    @Option(help: "Seconds to measure each figure (after a warm-up).") var seconds = 2.0
    @Option(help: "Write the results as JSON to this file.") var json: String?

    func run() throws {
        let (sizes, head): ([Int], OutputHead) = switch model {
        case "mlp": (layers.split(separator: ",").compactMap { Int($0) }, .multiclass)
        case "softmax": ([784, 10], .multiclass)
        case "linear": ([1000, 1], .regression)
        default: throw ValidationError("--model is mlp, softmax or linear, not \(model)")
        }
        let batchSizes = batches.split(separator: ",").compactMap { Int($0) }
        guard sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }), !batchSizes.isEmpty, batchSizes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--layers needs at least two positive widths and --batches positive sizes")
        }
        BLAS.setThreadCount(threads)
        let spec = NetworkSpec(inputSize: sizes[0], hiddenSizes: Array(sizes.dropFirst().dropLast()), outputSize: sizes.last!, head: head)
        print("\(model) \(sizes.map(String.init).joined(separator: "-")), Adam, \(threads) BLAS thread(s), \(spec.layout.count) parameters; \(Self.machine())")
        print("batch   pstrain samples/s   sgemm-bound samples/s   ratio")
        var rows: [[String: Double]] = []
        for batch in batchSizes {
            let train = measureTraining(spec: spec, batch: batch)
            let bound = measureGemmBound(sizes: sizes, batch: batch)
            print(String(format: "%5d   %17.0f   %21.0f   %5.2f", batch, train, bound, train / bound))
            rows.append(["batch": Double(batch), "samples_per_second": train, "sgemm_bound_samples_per_second": bound, "ratio": train / bound])
        }
        if let json {
            let report: [String: Any] = ["benchmark": "compute", "model": model, "layers": sizes, "threads": threads, "machine": Self.machine(),
                                         "results": rows]
            try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
    }

    /// Runs `body` repeatedly for `seconds` after a short warm-up and returns calls per second.
    func rate(_ body: () -> Void) -> Double {
        callsPerSecond(seconds: seconds, warmUp: min(0.3, seconds / 4), body)
    }

    func measureTraining(spec: NetworkSpec, batch: Int) -> Double {
        let samples = 8192
        let kind: SyntheticKind = spec.head == .regression ? .linear : .blobs
        let (data, _) = SyntheticData(kind: kind, features: spec.inputSize, classes: max(spec.outputSize, 2), noise: 1, seed: 1)
            .generate(trainSamples: samples, testSamples: 0)
        let network = Network<Float>(spec: spec)
        var parameters = [Float](repeating: 0, count: spec.layout.count)
        parameters.withUnsafeMutableBufferPointer { Initializer.heNormal.fill($0, layout: spec.layout, seed: 1) }
        var gradient = parameters
        var optimizer = Optimizer(settings: OptimizerSettings(kind: .adam), count: parameters.count)
        var x = [Float](repeating: 0, count: batch * spec.inputSize), y = [Float](repeating: 0, count: batch * data.targetWidth)
        var rng = SeededGenerator(seed: 2)
        var order = Array(0 ..< samples)
        var cursor = samples
        let steps = rate {
            if cursor + batch > samples {
                rng.shuffle(&order)
                cursor = 0
            }
            data.gather(order[cursor ..< cursor + batch], features: &x, targets: &y)
            cursor += batch
            parameters.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer { g in
                    _ = network.lossAndGradient(parameters: UnsafeBufferPointer(p), inputs: x, targets: y, rows: batch, gradient: g, rng: &rng)
                    _ = VectorOps.sumOfSquares(UnsafeBufferPointer(g))
                    optimizer.update(parameters: p, gradient: g, learningRate: 1e-4)
                }
            }
        }
        return steps * Double(batch)
    }

    /// The step's matrix products alone: forward `X W` per layer, backward `Xᵀ dY` per layer and `dY Wᵀ` for all but the first.
    func measureGemmBound(sizes: [Int], batch: Int) -> Double {
        let widest = sizes.max()!
        var rng = SeededGenerator(seed: 3)
        func buffer(_ n: Int) -> [Float] { (0 ..< n).map { _ in Float(rng.normal()) } }
        let weights = (0 ..< sizes.count - 1).map { buffer(sizes[$0] * sizes[$0 + 1]) }
        var weightGradients = weights
        let activations = sizes.map { buffer(batch * $0) }
        var out = buffer(batch * widest)
        let deltas = sizes.map { buffer(batch * $0) }
        let steps = rate {
            for l in 0 ..< sizes.count - 1 {
                let n = sizes[l], m = sizes[l + 1]
                Float.gemm(.none, .none, m: batch, n: m, k: n, alpha: 1, a: activations[l], lda: n, b: weights[l], ldb: m, beta: 1, c: &out, ldc: m)
                Float.gemm(.transposed, .none, m: n, n: m, k: batch, alpha: 1, a: activations[l], lda: n, b: deltas[l + 1], ldb: m,
                           beta: 0, c: &weightGradients[l], ldc: m)
                if l > 0 {
                    Float.gemm(.none, .transposed, m: batch, n: n, k: m, alpha: 1, a: deltas[l + 1], lda: m, b: weights[l], ldb: m, beta: 0, c: &out, ldc: n)
                }
            }
        }
        return steps * Double(batch)
    }

    /// The CPU model and core count, so a reader knows where a figure was measured.
    static func machine() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces)
        return "\(model ?? "unknown CPU"), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}
