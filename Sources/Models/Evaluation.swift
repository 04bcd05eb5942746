import Numerics

/// Metrics of a model over a whole data set, without dropout.
public struct Evaluation: Sendable, Equatable {
    /// Mean loss, the quantity training minimises.
    public var loss: Double
    /// Fraction of samples classified correctly (classification heads only).
    public var accuracy: Double?
    /// Mean squared and mean absolute error over every output (regression head only).
    public var meanSquaredError: Double?
    public var meanAbsoluteError: Double?
    public var samples: Int
}

extension Network {
    /// Evaluates `rows` samples in chunks of `chunk` rows. `inputs` is `rows x inputSize`; targets as for training.
    public func evaluate(parameters: UnsafeBufferPointer<T>, inputs: UnsafePointer<T>, targets: UnsafePointer<T>, rows: Int, chunk: Int = 512) -> Evaluation {
        var lossSum = 0.0, correct = 0, squared = 0.0, absolute = 0.0
        var rng = SeededGenerator(seed: 0)
        let width = spec.outputSize, head = spec.head
        var start = 0
        while start < rows {
            let n = min(chunk, rows - start)
            let x = inputs + start * spec.inputSize
            let y = targets + start * (head == .regression ? width : 1)
            let logits = forward(parameters: parameters, inputs: x, rows: n, training: false, rng: &rng)
            lossSum += Double(head.loss(logits: logits.baseAddress!, targets: y, rows: n, columns: width, gradient: nil, gradientScale: 1))
            for r in 0 ..< n {
                switch head {
                case .multiclass:
                    if VectorOps.argmax(logits, start: r * width, count: width) == Int(y[r]) { correct += 1 }
                case .binary:
                    if (logits[r] > 0 ? 1 : 0) == Int(y[r]) { correct += 1 }
                case .regression:
                    for j in 0 ..< width {
                        let diff = Double(logits[r * width + j] - y[r * width + j])
                        squared += diff * diff
                        absolute += abs(diff)
                    }
                }
            }
            start += n
        }
        let total = Double(max(rows, 1))
        if head == .regression {
            let elements = total * Double(width)
            return Evaluation(loss: lossSum / total, meanSquaredError: squared / elements, meanAbsoluteError: absolute / elements, samples: rows)
        }
        return Evaluation(loss: lossSum / total, accuracy: Double(correct) / total, samples: rows)
    }
}
