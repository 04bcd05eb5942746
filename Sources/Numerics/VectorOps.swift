/// Element-wise operations over contiguous buffers, written as plain loops the compiler vectorises.
public enum VectorOps {
    /// The sum of squares, accumulated in `Double` over eight lanes in a fixed order: fast (the lanes vectorise,
    /// where one running sum could not) and still the same on every run.
    @inlinable
    public static func sumOfSquares<T: Scalar>(_ x: UnsafeBufferPointer<T>) -> Double {
        guard let base = x.baseAddress else { return 0 }
        var lanes = SIMD8<Double>()
        var i = 0
        while i + 8 <= x.count {
            let v = SIMD8<Double>(UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<T>.self))
            lanes += v * v
            i += 8
        }
        var tail = 0.0
        while i < x.count {
            let v = Double(base[i])
            tail += v * v
            i += 1
        }
        return lanes.sum() + tail
    }

    /// Copies little-endian float32 `source` bytes into `destination` and returns their sum of squares, in one
    /// pass: a finite result also proves every element finite (squares of finite floats cannot overflow a Double).
    @inlinable
    public static func copySumOfSquares(from source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) -> Double {
        precondition(source.count == 4 * destination.count, "copySumOfSquares: \(source.count) bytes for \(destination.count) floats")
        guard let to = destination.baseAddress, let from = source.baseAddress else { return 0 }
        var lanes = SIMD8<Double>()
        var i = 0
        #if _endian(little)
        while i + 8 <= destination.count {
            let v = from.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(to + i).storeBytes(of: v, as: SIMD8<Float>.self)
            let d = SIMD8<Double>(v)
            lanes += d * d
            i += 8
        }
        #endif
        var tail = 0.0
        while i < destination.count {
            let v = Float(bitPattern: UInt32(littleEndian: from.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            to[i] = v
            tail += Double(v) * Double(v)
            i += 1
        }
        return lanes.sum() + tail
    }

    /// Writes `(Σ weights[r] · sources[r]) · factor` into `destination`, the sum taken from zero in the order of
    /// `sources`, and returns the result's sum of squares: the sync server's averaging of its workers' gradients in
    /// one pass, where zeroing, one `addScaled` per source, `scale` and `sumOfSquares` took a pass each. Every
    /// element and the sum of squares come out bit-identical to those five passes (same operations, same order,
    /// same eight lanes).
    @inlinable
    public static func weightedSum(of sources: [UnsafeBufferPointer<Float>], weights: [Float], times factor: Float,
                                   into destination: UnsafeMutableBufferPointer<Float>) -> Double {
        precondition(sources.count == weights.count && sources.allSatisfy { $0.count == destination.count },
                     "weightedSum: \(sources.count) sources of lengths \(sources.map(\.count)) and \(weights.count) weights into \(destination.count)")
        guard !destination.isEmpty, let to = destination.baseAddress else { return 0 }
        let from = sources.map { $0.baseAddress! }
        var lanes = SIMD8<Double>()
        var i = 0
        while i + 8 <= destination.count {
            var sum = SIMD8<Float>()
            for r in from.indices {
                sum += SIMD8(repeating: weights[r]) * UnsafeRawPointer(from[r] + i).loadUnaligned(as: SIMD8<Float>.self)
            }
            sum *= SIMD8(repeating: factor)
            UnsafeMutableRawPointer(to + i).storeBytes(of: sum, as: SIMD8<Float>.self)
            let d = SIMD8<Double>(sum)
            lanes += d * d
            i += 8
        }
        var tail = 0.0
        while i < destination.count {
            var sum: Float = 0
            for r in from.indices { sum += weights[r] * from[r][i] }
            sum *= factor
            to[i] = sum
            tail += Double(sum) * Double(sum)
            i += 1
        }
        return lanes.sum() + tail
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

    /// The index of the largest element of `x[start ..< start + count]` (the first one on ties).
    @inlinable
    public static func argmax<T: Scalar>(_ x: UnsafeBufferPointer<T>, start: Int, count: Int) -> Int {
        var best = start
        for i in start ..< start + count where x[i] > x[best] { best = i }
        return best - start
    }
}
