import CBLAS
import Glibc

/// Whether a matrix operand of `gemm` is used as stored or transposed.
public enum Transpose: Sendable {
    case none
    case transposed

    @usableFromInline var cblas: CBLAS_TRANSPOSE {
        self == .none ? CblasNoTrans : CblasTrans
    }
}

/// A floating-point type the kernels run in: `Float` for training, `Double` for gradient checks.
///
/// Every kernel is generic over `Scalar`, so a gradient check in `Double` exercises exactly
/// the code that trains in `Float`.
public protocol Scalar: BinaryFloatingPoint, SIMDScalar, Sendable {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    /// `log(1 + x)`, accurate for small `x`.
    static func log(onePlus x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    /// ReLU in place: `x = x > 0 ? x : 0`.
    static func rectify(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// ReLU's backward: `gradient = output > 0 ? gradient : 0`.
    static func rectifyGradient(output: UnsafePointer<Self>, gradient: UnsafeMutablePointer<Self>, count: Int)

    /// Row-major `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of shape `m x k` and `op(B)` of shape `k x n`.
    static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: Scalar {
    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
    @inlinable public static func log(onePlus x: Float) -> Float { log1pf(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { tanhf(x) }

    // Concrete loops: these vectorise (maxps, cmpps), while the same select written generically stayed scalar.
    @inlinable public static func rectify(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { x[i] = x[i] > 0 ? x[i] : 0 }
    }
    @inlinable public static func rectifyGradient(output: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { gradient[i] = output[i] > 0 ? gradient[i] : 0 }
    }

    @inlinable
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}

extension Double: Scalar {
    @inlinable public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inlinable public static func log(onePlus x: Double) -> Double { log1p(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }

    @inlinable public static func rectify(_ x: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0 ..< count { x[i] = x[i] > 0 ? x[i] : 0 }
    }
    @inlinable public static func rectifyGradient(output: UnsafePointer<Double>, gradient: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0 ..< count { gradient[i] = output[i] > 0 ? gradient[i] : 0 }
    }

    @inlinable
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transA.cblas, transB.cblas, blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
