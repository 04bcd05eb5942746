import Numerics

/// Forward and backward of a fully connected layer `Y = X W + b`, with `X` of shape `rows x inputs`,
/// `W` of shape `inputs x outputs` (row-major) and `b` of length `outputs`. All products go through BLAS.
public enum DenseKernels {
    /// Writes `X W + b` into `output` (`rows x outputs`).
    @inlinable
    public static func forward<T: Scalar>(
        input: UnsafePointer<T>, rows: Int, inputs: Int,
        weights: UnsafePointer<T>, bias: UnsafePointer<T>, outputs: Int,
        output: UnsafeMutablePointer<T>
    ) {
        // Seed each row with the bias so that one gemm with beta = 1 finishes the layer.
        for r in 0 ..< rows {
            (output + r * outputs).update(from: bias, count: outputs)
        }
        T.gemm(.none, .none, m: rows, n: outputs, k: inputs,
               alpha: 1, a: input, lda: inputs, b: weights, ldb: outputs,
               beta: 1, c: output, ldc: outputs)
    }

    /// Writes `dW = Xᵀ dY`, `db = column sums of dY`, and, when `inputGradient` is given, `dX = dY Wᵀ`.
    @inlinable
    public static func backward<T: Scalar>(
        input: UnsafePointer<T>, rows: Int, inputs: Int,
        weights: UnsafePointer<T>, outputs: Int,
        outputGradient: UnsafePointer<T>,
        weightGradient: UnsafeMutablePointer<T>, biasGradient: UnsafeMutablePointer<T>,
        inputGradient: UnsafeMutablePointer<T>?
    ) {
        T.gemm(.transposed, .none, m: inputs, n: outputs, k: rows,
               alpha: 1, a: input, lda: inputs, b: outputGradient, ldb: outputs,
               beta: 0, c: weightGradient, ldc: outputs)
        biasGradient.update(repeating: 0, count: outputs)
        for r in 0 ..< rows {
            let row = outputGradient + r * outputs
            for j in 0 ..< outputs { biasGradient[j] += row[j] }
        }
        if let inputGradient {
            T.gemm(.none, .transposed, m: rows, n: inputs, k: outputs,
                   alpha: 1, a: outputGradient, lda: outputs, b: weights, ldb: outputs,
                   beta: 0, c: inputGradient, ldc: inputs)
        }
    }
}
