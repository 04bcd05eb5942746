import Optimizers
import Testing

/// One or two steps of each rule from w = 1, g = 0.5, lr = 0.1, against numbers worked out by hand.
@Suite struct OptimizerStepTests {
    func run(_ settings: OptimizerSettings, steps: Int, w: Float = 1, g: Float = 0.5, lr: Double = 0.1) -> Float {
        var optimizer = Optimizer(settings: settings, count: 1)
        var weights: [Float] = [w]
        for _ in 0 ..< steps {
            var gradient: [Float] = [g]
            weights.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer { optimizer.update(parameters: p, gradient: $0, learningRate: lr) }
            }
        }
        #expect(optimizer.step == steps)
        return weights[0]
    }

    @Test func sgd() {
        #expect(abs(run(.init(kind: .sgd), steps: 2) - 0.9) < 1e-7) // 1 - 2 * 0.1 * 0.5
    }

    @Test func momentum() {
        // v = 0.5, w = 0.95; v = 0.9 * 0.5 + 0.5 = 0.95, w = 0.95 - 0.095 = 0.855
        #expect(abs(run(.init(kind: .momentum, momentum: 0.9), steps: 2) - 0.855) < 1e-7)
    }

    @Test func nesterov() {
        // v = 0.5, w = 1 - 0.1 * (0.5 + 0.45) = 0.905; v = 0.95, w = 0.905 - 0.1 * (0.5 + 0.855) = 0.7695
        #expect(abs(run(.init(kind: .nesterov, momentum: 0.9), steps: 2) - 0.7695) < 1e-6)
    }

    @Test func adam() {
        // With bias correction the first steps move by lr * g / |g| = 0.1 each. The tolerance allows for
        // Float(0.999): 1 - beta2 is then off by 1.3e-5 relative, as in any float32 Adam.
        #expect(abs(run(.init(kind: .adam), steps: 1) - 0.9) < 5e-6)
        #expect(abs(run(.init(kind: .adam), steps: 2) - 0.8) < 5e-6)
    }

    @Test func adamwDecaysBeforeTheAdamStep() {
        // w = 1 * (1 - 0.1 * 0.01) - 0.1 = 0.899; w = 0.899 * 0.999 - 0.1 = 0.798101
        #expect(abs(run(.init(kind: .adamw), steps: 2) - 0.798101) < 5e-6)
    }

    @Test func rmsprop() {
        // s = 0.0025, w = 1 - 0.1 * 0.5 / 0.05 = 0; s = 0.004975, w = -0.1 * 0.5 / 0.0705337 = -0.708881
        #expect(abs(run(.init(kind: .rmsprop, momentum: 0), steps: 2) + 0.7088809) < 1e-5)
    }

    @Test func adagrad() {
        // s = 0.25, w = 0.9; s = 0.5, w = 0.9 - 0.05 / 0.7071068 = 0.8292893
        #expect(abs(run(.init(kind: .adagrad), steps: 2) - 0.8292893) < 1e-6)
        // A starting accumulator of 0.75: s = 1, w = 1 - 0.05 = 0.95
        #expect(abs(run(.init(kind: .adagrad, initialAccumulator: 0.75), steps: 1) - 0.95) < 1e-6)
    }

    @Test func regularisers() {
        // L2: g = 0.5 + 0.2 * 1 = 0.7, w = 0.93. L1: g = 0.5 + 0.3, w = 0.92. Elastic net: g = 1.0, w = 0.9.
        #expect(abs(run(.init(kind: .sgd, l2: 0.2), steps: 1) - 0.93) < 1e-6)
        #expect(abs(run(.init(kind: .sgd, l1: 0.3), steps: 1) - 0.92) < 1e-6)
        #expect(abs(run(.init(kind: .sgd, l1: 0.3, l2: 0.2), steps: 1) - 0.9) < 1e-6)
        // L1 pulls a negative weight up: g = 0.5 - 0.3, w = -1 - 0.02.
        #expect(abs(run(.init(kind: .sgd, l1: 0.3), steps: 1, w: -1) + 1.02) < 1e-6)
        // Decoupled decay with SGD: w = 1 * (1 - 0.1 * 0.5) - 0.05 = 0.9
        #expect(abs(run(.init(kind: .sgd, weightDecay: 0.5), steps: 1) - 0.9) < 1e-6)
    }
}

@Suite struct ClippingAndScheduleTests {
    @Test func clipByValueClampsAndCounts() {
        var g: [Float] = [-3, 0.5, 2, -0.1]
        let changed = g.withUnsafeMutableBufferPointer { Clipping.clipByValue($0, limit: 1) }
        #expect(g == [-1, 0.5, 1, -0.1])
        #expect(changed == 2)
    }

    @Test func clipByGlobalNormScalesOnlyWhenAbove() {
        var g: [Float] = [3, 4]
        let seen = g.withUnsafeMutableBufferPointer { Clipping.clipByGlobalNorm($0, maxNorm: 1) }
        #expect(seen == 5)
        #expect(abs(g[0] - 0.6) < 1e-7 && abs(g[1] - 0.8) < 1e-7)
        var small: [Float] = [0.3, 0.4]
        let seenSmall = small.withUnsafeMutableBufferPointer { Clipping.clipByGlobalNorm($0, maxNorm: 1) }
        #expect(abs(seenSmall - 0.5) < 1e-7)
        #expect(small == [0.3, 0.4])
    }

    @Test func shardedClippingEqualsWholeClipping() {
        // Two shards combine their sums of squares; each scales its slice by the same factor.
        let whole: [Float] = [1, -2, 3, 4, -5, 6]
        var clipped = whole
        clipped.withUnsafeMutableBufferPointer { _ = Clipping.clipByGlobalNorm($0, maxNorm: 2) }
        let squares = [whole[0 ..< 2], whole[2...]].map { $0.map { Double($0 * $0) }.reduce(0, +) }
        let factor = Float(Clipping.scaleFactor(norm: squares.reduce(0, +).squareRoot(), maxNorm: 2))
        #expect(whole.map { $0 * factor } == clipped)
    }

    @Test func schedules() {
        let constant = LearningRateSchedule(base: 0.1)
        #expect(constant.rate(atStep: 0) == 0.1 && constant.rate(atStep: 10_000) == 0.1)
        let step = LearningRateSchedule(base: 1, kind: .step, gamma: 0.5, stepSize: 10)
        #expect(step.rate(atStep: 9) == 1 && step.rate(atStep: 10) == 0.5 && step.rate(atStep: 25) == 0.25)
        let exponential = LearningRateSchedule(base: 1, kind: .exponential, gamma: 0.5, decaySteps: 4)
        #expect(exponential.rate(atStep: 4) == 0.5)
        #expect(abs(exponential.rate(atStep: 2) - 0.5.squareRoot()) < 1e-15)
        let cosine = LearningRateSchedule(base: 1, kind: .cosine, totalSteps: 100, minimum: 0.1)
        #expect(cosine.rate(atStep: 0) == 1)
        #expect(abs(cosine.rate(atStep: 50) - 0.55) < 1e-12)
        #expect(abs(cosine.rate(atStep: 100) - 0.1) < 1e-12 && abs(cosine.rate(atStep: 500) - 0.1) < 1e-12)
        // Warm-up composes: 4 rising steps, then the step schedule from its own start.
        let warm = LearningRateSchedule(base: 1, kind: .step, gamma: 0.5, stepSize: 10, warmupSteps: 4)
        #expect((0 ..< 4).map { warm.rate(atStep: $0) } == [0.25, 0.5, 0.75, 1])
        #expect(warm.rate(atStep: 13) == 1 && warm.rate(atStep: 14) == 0.5)
    }
}
