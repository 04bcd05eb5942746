import Numerics

/// Inverted dropout: at training time each value is kept with probability `1 - rate` and scaled by
/// `1 / (1 - rate)`, so evaluation needs no rescaling and simply skips dropout.
public enum Dropout {
    /// Fills `mask` with `0` or `1 / (1 - rate)` drawn from `rng`.
    @inlinable
    public static func makeMask<T: Scalar>(_ mask: UnsafeMutablePointer<T>, count: Int, rate: Double, rng: inout SeededGenerator) {
        let keep = 1 - rate
        let scale = T(1 / keep)
        for i in 0 ..< count { mask[i] = rng.uniform() < keep ? scale : 0 }
    }

    /// `output = input * mask`; also the backward pass, with gradients in place of values.
    @inlinable
    public static func apply<T: Scalar>(_ input: UnsafePointer<T>, mask: UnsafePointer<T>, output: UnsafeMutablePointer<T>, count: Int) {
        for i in 0 ..< count { output[i] = input[i] * mask[i] }
    }
}
