import Numerics

/// The last layer's output function and loss, which together decide what the model predicts.
public enum OutputHead: String, Sendable, CaseIterable, Codable {
    /// Identity output with mean squared error (PyTorch's `MSELoss`, mean over every output).
    case regression
    /// One logit, sigmoid and binary cross-entropy; targets are 0 or 1.
    case binary
    /// One logit per class, softmax and cross-entropy; targets are class indices.
    case multiclass

    /// Returns the sum over rows of the per-sample loss and, if `gradient` is given, writes
    /// `d(loss sum)/d(logits) * gradientScale` into it (pass `1 / batch` for a mean loss).
    @inlinable
    public func loss<T: Scalar>(
        logits: UnsafePointer<T>, targets: UnsafePointer<T>, rows: Int, columns: Int,
        gradient: UnsafeMutablePointer<T>?, gradientScale: T
    ) -> T {
        var total: T = 0
        switch self {
        case .regression:
            let perElement = 1 / T(columns)
            for i in 0 ..< rows * columns {
                let diff = logits[i] - targets[i]
                total += diff * diff * perElement
                gradient?[i] = 2 * diff * perElement * gradientScale
            }
        case .binary:
            precondition(columns == 1, "a binary head has one output, not \(columns)")
            for i in 0 ..< rows {
                let z = logits[i], y = targets[i]
                // log(1 + exp(z)) - y z, written so that no exp overflows.
                total += max(z, 0) - z * y + T.log(onePlus: T.exp(-abs(z)))
                gradient?[i] = (logisticSigmoid(z) - y) * gradientScale
            }
        case .multiclass:
            for r in 0 ..< rows {
                let row = logits + r * columns
                var largest = row[0]
                for j in 1 ..< columns { largest = max(largest, row[j]) }
                var sum: T = 0
                for j in 0 ..< columns { sum += T.exp(row[j] - largest) }
                let logSumExp = largest + T.log(sum)
                let label = Int(targets[r])
                precondition(label >= 0 && label < columns, "class \(label) outside 0..<\(columns)")
                total += logSumExp - row[label]
                if let gradient {
                    let g = gradient + r * columns
                    for j in 0 ..< columns { g[j] = T.exp(row[j] - logSumExp) * gradientScale }
                    g[label] -= gradientScale
                }
            }
        }
        return total
    }
}
