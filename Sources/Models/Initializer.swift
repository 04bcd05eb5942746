import Numerics

/// How weights start; biases always start at zero.
public enum Initializer: String, Sendable, CaseIterable, Codable {
    case zeros
    /// Normal with standard deviation `scale`.
    case normal
    /// Uniform in `[-scale, scale]`.
    case uniform
    /// Glorot & Bengio (2010): uniform in `±sqrt(6 / (fanIn + fanOut))`.
    case xavierUniform = "xavier_uniform"
    /// Glorot & Bengio (2010): normal with standard deviation `sqrt(2 / (fanIn + fanOut))`.
    case xavierNormal = "xavier_normal"
    /// He et al. (2015): normal with standard deviation `sqrt(2 / fanIn)`, for ReLU networks.
    case heNormal = "he_normal"
    /// He et al. (2015): uniform in `±sqrt(6 / fanIn)`.
    case heUniform = "he_uniform"

    /// Fills every tensor of `layout` in `parameters`, seeded by `seed`; weights are `fanIn x fanOut`.
    public func fill<T: Scalar>(_ parameters: UnsafeMutableBufferPointer<T>, layout: ParameterLayout, seed: UInt64, scale: Double = 0.01) {
        precondition(parameters.count == layout.count, "parameter vector has \(parameters.count) values, layout \(layout.count)")
        var rng = SeededGenerator(seed: seed, streams: 0x1417)
        for entry in layout.entries {
            let fanIn = Double(entry.shape[0])
            let fanOut = Double(entry.shape.count > 1 ? entry.shape[1] : 1)
            for i in entry.range {
                parameters[i] = entry.role == .bias ? 0 : T(sample(fanIn: fanIn, fanOut: fanOut, scale: scale, rng: &rng))
            }
        }
    }

    func sample(fanIn: Double, fanOut: Double, scale: Double, rng: inout SeededGenerator) -> Double {
        switch self {
        case .zeros: return 0
        case .normal: return rng.normal() * scale
        case .uniform: return rng.uniform(-scale, scale)
        case .xavierUniform:
            let limit = (6 / (fanIn + fanOut)).squareRoot()
            return rng.uniform(-limit, limit)
        case .xavierNormal: return rng.normal() * (2 / (fanIn + fanOut)).squareRoot()
        case .heNormal: return rng.normal() * (2 / fanIn).squareRoot()
        case .heUniform:
            let limit = (6 / fanIn).squareRoot()
            return rng.uniform(-limit, limit)
        }
    }
}
