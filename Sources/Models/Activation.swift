import Numerics

/// The non-linearity between hidden layers.
public enum Activation: String, Sendable, CaseIterable, Codable {
    case relu, tanh, sigmoid

    /// Applies the activation in place to `count` values.
    @inlinable
    public func forward<T: Scalar>(_ x: UnsafeMutablePointer<T>, count: Int) {
        switch self {
        case .relu:
            T.rectify(x, count: count)
        case .tanh:
            for i in 0 ..< count { x[i] = T.tanh(x[i]) }
        case .sigmoid:
            for i in 0 ..< count { x[i] = logisticSigmoid(x[i]) }
        }
    }

    /// Multiplies `gradient` by the derivative, expressed through the forward `output` (`f(z)`).
    @inlinable
    public func backward<T: Scalar>(output: UnsafePointer<T>, gradient: UnsafeMutablePointer<T>, count: Int) {
        switch self {
        case .relu:
            T.rectifyGradient(output: output, gradient: gradient, count: count)
        case .tanh:
            for i in 0 ..< count { gradient[i] *= 1 - output[i] * output[i] }
        case .sigmoid:
            for i in 0 ..< count { gradient[i] *= output[i] * (1 - output[i]) }
        }
    }
}

/// `1 / (1 + exp(-z))`, computed without overflow for large `|z|`.
@inlinable
public func logisticSigmoid<T: Scalar>(_ z: T) -> T {
    if z >= 0 { return 1 / (1 + T.exp(-z)) }
    let e = T.exp(z)
    return e / (1 + e)
}

