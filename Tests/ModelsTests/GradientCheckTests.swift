import Models
import Numerics
import Testing

/// Analytic gradients against central finite differences, both in `Double`, for every head,
/// activation and dropout; then the `Float` instantiation against the `Double` analytic gradient.
@Suite struct GradientCheckTests {
    static let specs: [(String, NetworkSpec)] = [
        ("linear", .linearRegression(inputs: 5, outputs: 2)),
        ("logistic", .logisticRegression(inputs: 5)),
        ("softmax", .softmaxRegression(inputs: 5, classes: 4)),
        ("mlp-relu", NetworkSpec(inputSize: 5, hiddenSizes: [7, 6], outputSize: 4, activation: .relu, head: .multiclass)),
        ("mlp-tanh", NetworkSpec(inputSize: 5, hiddenSizes: [6], outputSize: 4, activation: .tanh, head: .multiclass)),
        ("mlp-sigmoid-binary", NetworkSpec(inputSize: 5, hiddenSizes: [6], outputSize: 1, activation: .sigmoid, head: .binary)),
        ("mlp-tanh-regression", NetworkSpec(inputSize: 5, hiddenSizes: [6, 3], outputSize: 2, activation: .tanh, head: .regression)),
        ("mlp-relu-dropout", NetworkSpec(inputSize: 5, hiddenSizes: [8, 8], outputSize: 3, activation: .relu, dropout: 0.3, head: .multiclass)),
    ]

    struct Problem {
        var parameters: [Double]
        var inputs: [Double]
        var targets: [Double]
        let rows = 6
    }

    func problem(for spec: NetworkSpec) -> Problem {
        var rng = SeededGenerator(seed: 11)
        var params = [Double](repeating: 0, count: spec.layout.count)
        params.withUnsafeMutableBufferPointer { Initializer.xavierNormal.fill($0, layout: spec.layout, seed: 2) }
        // Non-zero biases, so that the bias gradient is not checked only at zero.
        for entry in spec.layout.entries where entry.role == .bias {
            for i in entry.range { params[i] = rng.normal() * 0.1 }
        }
        let rows = 6
        let inputs = (0 ..< rows * spec.inputSize).map { _ in rng.normal() }
        let targets: [Double]
        switch spec.head {
        case .multiclass: targets = (0 ..< rows).map { _ in Double(rng.integer(below: spec.outputSize)) }
        case .binary: targets = (0 ..< rows).map { _ in Double(rng.integer(below: 2)) }
        case .regression: targets = (0 ..< rows * spec.outputSize).map { _ in rng.normal() }
        }
        return Problem(parameters: params, inputs: inputs, targets: targets)
    }

    func lossAndGradient<T: Scalar>(_ net: Network<T>, _ p: [T], _ x: [T], _ y: [T], rows: Int) -> (T, [T]) {
        var g = [T](repeating: 0, count: p.count)
        // The same seed every call gives the same dropout mask, so finite differences see one function.
        var rng = SeededGenerator(seed: 99)
        let loss = p.withUnsafeBufferPointer { pp in
            g.withUnsafeMutableBufferPointer { gg in
                net.lossAndGradient(parameters: pp, inputs: x, targets: y, rows: rows, gradient: gg, rng: &rng)
            }
        }
        return (loss, g)
    }

    @Test(arguments: specs.map(\.0))
    func analyticGradientMatchesFiniteDifferences(name: String) {
        let spec = Self.specs.first { $0.0 == name }!.1
        let net = Network<Double>(spec: spec)
        let prob = problem(for: spec)
        let (_, analytic) = lossAndGradient(net, prob.parameters, prob.inputs, prob.targets, rows: prob.rows)
        let eps = 1e-6
        for i in 0 ..< prob.parameters.count {
            var plus = prob.parameters, minus = prob.parameters
            plus[i] += eps
            minus[i] -= eps
            let lp = lossAndGradient(net, plus, prob.inputs, prob.targets, rows: prob.rows).0
            let lm = lossAndGradient(net, minus, prob.inputs, prob.targets, rows: prob.rows).0
            let numeric = (lp - lm) / (2 * eps)
            // Central differences with eps = 1e-6 carry about 1e-10 of round-off on a loss of order 1,
            // hence an absolute floor of 1e-9 beside the relative tolerance.
            let error = abs(numeric - analytic[i])
            #expect(error <= 1e-6 * (abs(numeric) + abs(analytic[i])) + 1e-9,
                    "\(name): parameter \(i): analytic \(analytic[i]) vs numeric \(numeric)")
        }
        #expect(analytic.contains { $0 != 0 }, "\(name): gradient is all zero; the check would be vacuous")
    }

    @Test(arguments: specs.map(\.0))
    func floatGradientMatchesDoubleGradient(name: String) {
        let spec = Self.specs.first { $0.0 == name }!.1
        let prob = problem(for: spec)
        let (lossD, gradD) = lossAndGradient(Network<Double>(spec: spec), prob.parameters, prob.inputs, prob.targets, rows: prob.rows)
        let (lossF, gradF) = lossAndGradient(
            Network<Float>(spec: spec), prob.parameters.map(Float.init), prob.inputs.map(Float.init), prob.targets.map(Float.init), rows: prob.rows)
        #expect(abs(Double(lossF) - lossD) <= 1e-5 * max(1, abs(lossD)))
        let scale = gradD.map(abs).max()!
        for (f, d) in zip(gradF, gradD) { #expect(abs(Double(f) - d) <= 1e-5 * scale) }
    }

    @Test func lossValuesMatchHandComputedOnes() {
        // Softmax cross-entropy of logits [0, ln 3] with label 1: -log(3/4).
        let logits: [Double] = [0, Double.log(3)], target: [Double] = [1]
        let ce = OutputHead.multiclass.loss(logits: logits, targets: target, rows: 1, columns: 2, gradient: nil, gradientScale: 1)
        #expect(abs(ce + Double.log(0.75)) < 1e-12)
        // Binary cross-entropy of logit 0 is log 2 for either label; stable for huge logits.
        let bce = OutputHead.binary.loss(logits: [0.0, 800], targets: [1, 0], rows: 2, columns: 1, gradient: nil, gradientScale: 1)
        #expect(abs(bce - (Double.log(2) + 800)) < 1e-9)
        let mse = OutputHead.regression.loss(logits: [1.0, 3], targets: [0, 1], rows: 1, columns: 2, gradient: nil, gradientScale: 1)
        #expect(mse == 2.5)
    }

    @Test func dropoutIsOffAtEvaluationAndInvertedAtTraining() {
        var mask = [Float](repeating: 0, count: 100_000)
        var rng = SeededGenerator(seed: 4)
        Dropout.makeMask(&mask, count: mask.count, rate: 0.25, rng: &rng)
        let mean = mask.reduce(0, +) / Float(mask.count)
        #expect(abs(mean - 1) < 0.01, "inverted dropout keeps the expectation")
        #expect(Set(mask).isSubset(of: [0, Float(1 / 0.75)]))
    }
}
