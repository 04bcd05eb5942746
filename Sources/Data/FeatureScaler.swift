/// How features are rescaled before training.
public enum ScalingKind: String, Sendable, CaseIterable, Codable {
    case none
    /// Zero mean and unit variance per feature.
    case standard
    /// Each feature mapped to [0, 1].
    case minmax
}

/// Per-feature `x' = (x - shift) / divisor`, fitted on the training set only and applied to every split.
public struct FeatureScaler: Sendable, Equatable {
    public let shift: [Float]
    public let divisor: [Float]

    /// A scaler fitted elsewhere: a worker takes its server's, fitted on the whole training set.
    public init(shift: [Float], divisor: [Float]) {
        precondition(shift.count == divisor.count, "a shift and a divisor per feature")
        self.shift = shift
        self.divisor = divisor
    }

    /// Fits the statistics of `kind` on `data`. A constant feature keeps divisor 1, so it maps to 0.
    public init(kind: ScalingKind, fittedOn data: Dataset) {
        let d = data.featureCount, n = data.rows
        var shift = [Float](repeating: 0, count: d), divisor = [Float](repeating: 1, count: d)
        switch kind {
        case .none:
            break
        case .standard:
            var mean = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
            for r in 0 ..< n {
                for j in 0 ..< d {
                    let x = Double(data.features[r * d + j])
                    mean[j] += x
                    squares[j] += x * x
                }
            }
            for j in 0 ..< d {
                let m = mean[j] / Double(n)
                let variance = max(squares[j] / Double(n) - m * m, 0)
                shift[j] = Float(m)
                divisor[j] = variance > 1e-12 ? Float(variance.squareRoot()) : 1
            }
        case .minmax:
            var low = [Float](repeating: .infinity, count: d), high = [Float](repeating: -.infinity, count: d)
            for r in 0 ..< n {
                for j in 0 ..< d {
                    low[j] = min(low[j], data.features[r * d + j])
                    high[j] = max(high[j], data.features[r * d + j])
                }
            }
            for j in 0 ..< d {
                shift[j] = low[j]
                divisor[j] = high[j] > low[j] ? high[j] - low[j] : 1
            }
        }
        self.shift = shift
        self.divisor = divisor
    }

    /// Rescales `data` in place.
    public func apply(to data: inout Dataset) {
        precondition(data.featureCount == shift.count, "scaler fitted on \(shift.count) features, data has \(data.featureCount)")
        let d = shift.count
        data.features.withUnsafeMutableBufferPointer { x in
            for i in x.indices { x[i] = (x[i] - shift[i % d]) / divisor[i % d] }
        }
    }
}
