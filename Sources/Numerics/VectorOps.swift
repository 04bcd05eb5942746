/// Element-wise operations over contiguous buffers, written as plain loops the compiler vectorises.
public enum VectorOps {
    /// The sum of squares, accumulated in `Double` in index order so that it is the same on every run.
    @inlinable
    public static func sumOfSquares<T: Scalar>(_ x: UnsafeBufferPointer<T>) -> Double {
        var total = 0.0
        for value in x {
            let v = Double(value)
            total += v * v
        }
        return total
    }

    /// `x *= factor`.
    @inlinable
    public static func scale<T: Scalar>(_ x: UnsafeMutableBufferPointer<T>, by factor: T) {
        for i in x.indices { x[i] *= factor }
    }

    /// `y += alpha * x`.
    @inlinable
    public static func addScaled<T: Scalar>(_ x: UnsafeBufferPointer<T>, times alpha: T, into y: UnsafeMutableBufferPointer<T>) {
        precondition(x.count == y.count, "addScaled: lengths \(x.count) and \(y.count) differ")
        for i in y.indices { y[i] += alpha * x[i] }
    }

    /// True when every element is finite (no NaN, no infinity).
    @inlinable
    public static func allFinite<T: Scalar>(_ x: UnsafeBufferPointer<T>) -> Bool {
        var finite = true
        for value in x { finite = finite && value.isFinite }
        return finite
    }

    /// The index of the largest element of `x[start ..< start + count]` (the first one on ties).
    @inlinable
    public static func argmax<T: Scalar>(_ x: UnsafeBufferPointer<T>, start: Int, count: Int) -> Int {
        var best = start
        for i in start ..< start + count where x[i] > x[best] { best = i }
        return best - start
    }
}
