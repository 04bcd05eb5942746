import Numerics

/// An optimizer for one contiguous range of the flat parameter vector, holding the state of that range only,
/// so a server shard runs it on its own slice.
///
/// One call of `update` is one step: regularisation terms join the gradient, decoupled weight decay shrinks
/// the weights, then the rule of `settings.kind` moves them. Clip the gradient before calling it.
public struct Optimizer: Sendable {
    public let settings: OptimizerSettings
    /// The number of parameters this optimizer owns.
    public let count: Int
    /// Steps taken so far; Adam's bias correction uses it.
    public private(set) var step = 0
    /// Momentum buffer, or Adam's first moment.
    public private(set) var firstMoment: [Float]
    /// Adam's second moment, RMSprop's squared-gradient average, or AdaGrad's squared-gradient sum.
    public private(set) var secondMoment: [Float]

    public init(settings: OptimizerSettings, count: Int) {
        self.settings = settings
        self.count = count
        let needsFirst: Bool, needsSecond: Bool
        switch settings.kind {
        case .sgd: (needsFirst, needsSecond) = (false, false)
        case .momentum, .nesterov: (needsFirst, needsSecond) = (true, false)
        case .adam, .adamw: (needsFirst, needsSecond) = (true, true)
        case .rmsprop: (needsFirst, needsSecond) = (settings.momentum > 0, true)
        case .adagrad: (needsFirst, needsSecond) = (false, true)
        }
        firstMoment = needsFirst ? [Float](repeating: 0, count: count) : []
        let start = settings.kind == .adagrad ? Float(settings.initialAccumulator) : 0
        secondMoment = needsSecond ? [Float](repeating: start, count: count) : []
    }

    /// Puts back state saved from an optimizer of the same settings and size (a checkpoint): the step count and
    /// both moment buffers, each empty or `count` long as this rule keeps them.
    public mutating func restore(step: Int, firstMoment first: [Float], secondMoment second: [Float]) throws(OptimizerStateError) {
        guard first.count == firstMoment.count, second.count == secondMoment.count, step >= 0 else {
            throw OptimizerStateError(message: "saved state has \(first.count) + \(second.count) values at step \(step); "
                                      + "this \(settings.kind.rawValue) optimizer keeps \(firstMoment.count) + \(secondMoment.count)")
        }
        self.step = step
        firstMoment = first
        secondMoment = second
    }

    /// Applies one step to `parameters` with `gradient` (which receives the regularisation terms) at `learningRate`.
    public mutating func update(parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>, learningRate: Double) {
        beginStep()
        apply(to: 0 ..< count, parameters: parameters, gradient: gradient, learningRate: learningRate)
    }

    /// Starts a step that `apply(to:...)` then takes slice by slice, so that a server can send each slice of the
    /// weights while it updates the next.
    public mutating func beginStep() {
        step += 1
    }

    /// The current step on the values `range` of `parameters` and `gradient` (both all `count` long): the very
    /// arithmetic `update` does to those values. The slices of one step must cover the parameters once.
    public mutating func apply(to range: Range<Int>, parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>,
                               learningRate: Double) {
        precondition(parameters.count == count && gradient.count == count && range.lowerBound >= 0 && range.upperBound <= count,
                     "optimizer owns \(count) values; got \(parameters.count) parameters and \(gradient.count) gradients, slice \(range)")
        Regularization.addPenalties(to: UnsafeMutableBufferPointer(rebasing: gradient[range]),
                                    weights: UnsafeBufferPointer(rebasing: parameters[range]), l1: Float(settings.l1), l2: Float(settings.l2))
        step(range, parameters: parameters, gradient: UnsafeBufferPointer(gradient), learningRate: learningRate)
    }

    /// Whether a step changes the gradient it is given: the L1 and L2 penalties are added to it.
    public var changesGradient: Bool { settings.l1 != 0 || settings.l2 != 0 }

    /// As `apply(to:parameters:gradient:learningRate:)`, for a gradient that must stay as it is (a server reads
    /// it where it arrived): only for an optimizer that does not change its gradient (`changesGradient`).
    public mutating func apply(to range: Range<Int>, parameters: UnsafeMutableBufferPointer<Float>, unchangedGradient gradient: UnsafeBufferPointer<Float>,
                               learningRate: Double) {
        precondition(!changesGradient, "an optimizer with L1 or L2 penalties adds them to its gradient")
        precondition(parameters.count == count && gradient.count == count && range.lowerBound >= 0 && range.upperBound <= count,
                     "optimizer owns \(count) values; got \(parameters.count) parameters and \(gradient.count) gradients, slice \(range)")
        step(range, parameters: parameters, gradient: gradient, learningRate: learningRate)
    }

    /// The step's arithmetic on `range`, the penalties already in `gradient`.
    private mutating func step(_ range: Range<Int>, parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>,
                               learningRate: Double) {
        if settings.weightDecay != 0 {
            VectorOps.scale(UnsafeMutableBufferPointer(rebasing: parameters[range]), by: Float(1 - learningRate * settings.weightDecay))
        }
        let lr = Float(learningRate)
        let w = parameters, g = gradient
        switch settings.kind {
        case .sgd:
            for i in range { w[i] -= lr * g[i] }
        case .momentum, .nesterov:
            let mu = Float(settings.momentum), nesterov = settings.kind == .nesterov
            firstMoment.withUnsafeMutableBufferPointer { v in
                if nesterov {
                    for i in range {
                        v[i] = mu * v[i] + g[i]
                        w[i] -= lr * (g[i] + mu * v[i])
                    }
                } else {
                    for i in range {
                        v[i] = mu * v[i] + g[i]
                        w[i] -= lr * v[i]
                    }
                }
            }
        case .adam, .adamw:
            let b1 = Float(settings.beta1), b2 = Float(settings.beta2), eps = Float(settings.epsilon)
            let correction1 = 1 - integerPower(settings.beta1, step), correction2 = 1 - integerPower(settings.beta2, step)
            let stepSize = Float(learningRate / correction1), rootCorrection2 = Float(correction2.squareRoot())
            firstMoment.withUnsafeMutableBufferPointer { m in
                secondMoment.withUnsafeMutableBufferPointer { v in
                    for i in range {
                        m[i] = b1 * m[i] + (1 - b1) * g[i]
                        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                        w[i] -= stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + eps)
                    }
                }
            }
        case .rmsprop:
            let rho = Float(settings.rho), eps = Float(settings.epsilon), mu = Float(settings.momentum)
            secondMoment.withUnsafeMutableBufferPointer { s in
                if mu > 0 {
                    firstMoment.withUnsafeMutableBufferPointer { b in
                        for i in range {
                            s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]
                            b[i] = mu * b[i] + g[i] / (s[i].squareRoot() + eps)
                            w[i] -= lr * b[i]
                        }
                    }
                } else {
                    for i in range {
                        s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]
                        w[i] -= lr * g[i] / (s[i].squareRoot() + eps)
                    }
                }
            }
        case .adagrad:
            let eps = Float(settings.epsilon)
            secondMoment.withUnsafeMutableBufferPointer { s in
                for i in range {
                    s[i] += g[i] * g[i]
                    w[i] -= lr * g[i] / (s[i].squareRoot() + eps)
                }
            }
        }
    }
}

/// Saved optimizer state that does not fit this optimizer.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// `base^exponent` by repeated squaring, so Adam's bias correction does not depend on the platform's `pow`.
func integerPower(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0, b = base, e = exponent
    while e > 0 {
        if e & 1 == 1 { result *= b }
        b *= b
        e >>= 1
    }
    return result
}
