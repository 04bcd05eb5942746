import Optimizers
import Testing

/// Every optimizer drives an ill-conditioned quadratic `0.5 * sum a_i (w_i - c_i)^2` to its minimum.
@Suite struct ConvergenceTests {
    static let cases: [(OptimizerSettings, Double)] = [
        (.init(kind: .sgd), 0.05),
        (.init(kind: .momentum), 0.02),
        (.init(kind: .nesterov), 0.02),
        (.init(kind: .adam), 0.1),
        (.init(kind: .adamw, weightDecay: 0), 0.1),
        (.init(kind: .rmsprop, momentum: 0), 0.02),
        (.init(kind: .rmsprop, momentum: 0.5), 0.01),
        (.init(kind: .adagrad), 0.5),
    ]

    @Test(arguments: cases.indices)
    func reachesTheMinimum(index: Int) {
        let (settings, lr) = Self.cases[index]
        let curvature: [Float] = [1, 3, 10, 0.5]
        let target: [Float] = [1, -2, 0.5, 3]
        var w = [Float](repeating: 0, count: 4)
        var optimizer = Optimizer(settings: settings, count: 4)
        let steps = 2000
        // The cosine schedule anneals the rate to zero, so adaptive methods settle instead of hovering.
        let schedule = LearningRateSchedule(base: lr, kind: .cosine, totalSteps: steps)
        for t in 0 ..< steps {
            var g = (0 ..< 4).map { curvature[$0] * (w[$0] - target[$0]) }
            w.withUnsafeMutableBufferPointer { p in
                g.withUnsafeMutableBufferPointer { optimizer.update(parameters: p, gradient: $0, learningRate: schedule.rate(atStep: t)) }
            }
        }
        for i in 0 ..< 4 {
            #expect(abs(w[i] - target[i]) < 1e-2, "\(settings.kind) lr \(lr): w[\(i)] = \(w[i]), want \(target[i])")
        }
    }
}
