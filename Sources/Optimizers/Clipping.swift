import Numerics

/// Gradient clipping. Each function reports what it saw, for logging.
public enum Clipping {
    /// Clamps every element to `[-limit, limit]` and returns how many elements were changed.
    @discardableResult
    public static func clipByValue(_ gradient: UnsafeMutableBufferPointer<Float>, limit: Float) -> Int {
        precondition(limit > 0, "clip value must be positive")
        var clipped = 0
        for i in gradient.indices {
            let g = gradient[i]
            if g > limit { gradient[i] = limit; clipped += 1 } else if g < -limit { gradient[i] = -limit; clipped += 1 }
        }
        return clipped
    }

    /// Scales the whole gradient so that its L2 norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clipByGlobalNorm(_ gradient: UnsafeMutableBufferPointer<Float>, maxNorm: Double) -> Double {
        let norm = VectorOps.sumOfSquares(UnsafeBufferPointer(gradient)).squareRoot()
        let factor = scaleFactor(norm: norm, maxNorm: maxNorm)
        if factor < 1 { VectorOps.scale(gradient, by: Float(factor)) }
        return norm
    }

    /// Clips by value (when `byValue` is set), then by global norm (when `byNorm` is set), and returns the L2 norm
    /// seen after value clipping and before norm clipping: the figure logged as `grad_norm`.
    /// `sumOfSquares`, when the caller already knows it, saves a pass (it is ignored after value clipping).
    @discardableResult
    public static func clip(_ gradient: UnsafeMutableBufferPointer<Float>, byValue: Double?, byNorm: Double?, sumOfSquares known: Double? = nil) -> Double {
        var squares = known
        if let limit = byValue, clipByValue(gradient, limit: Float(limit)) > 0 { squares = nil }
        let norm = (squares ?? VectorOps.sumOfSquares(UnsafeBufferPointer(gradient))).squareRoot()
        if let maxNorm = byNorm {
            let factor = scaleFactor(norm: norm, maxNorm: maxNorm)
            if factor < 1 { VectorOps.scale(gradient, by: Float(factor)) }
        }
        return norm
    }

    /// As `clip`, for one server shard's slice of a gradient: `globalSumOfSquares` is the whole gradient's sum of
    /// squares after clipping by value, which no single shard can measure (see `sumOfSquaresAfterClipping`).
    @discardableResult
    public static func clipSlice(_ slice: UnsafeMutableBufferPointer<Float>, byValue: Double?, byNorm: Double?, globalSumOfSquares: Double) -> Double {
        if let limit = byValue { clipByValue(slice, limit: Float(limit)) }
        let norm = globalSumOfSquares.squareRoot()
        if let maxNorm = byNorm {
            let factor = scaleFactor(norm: norm, maxNorm: maxNorm)
            if factor < 1 { VectorOps.scale(slice, by: Float(factor)) }
        }
        return norm
    }

    /// The sum of squares `gradient` would have after `clipByValue(limit)`, without changing it; NaN when any value
    /// is NaN or infinite, so a gradient that a server would refuse is never made to look finite by clipping.
    public static func sumOfSquaresAfterClipping(_ gradient: UnsafeBufferPointer<Float>, byValue limit: Double?) -> Double {
        guard let limit else { return VectorOps.sumOfSquares(gradient) }
        let cap = Float(limit)
        var sum = 0.0
        for g in gradient {
            guard g.isFinite else { return .nan }
            let clipped = Double(min(max(g, -cap), cap))
            sum += clipped * clipped
        }
        return sum
    }

    /// The factor that brings a gradient of L2 norm `norm` within `maxNorm` (1 when it already is).
    ///
    /// Server shards each know only part of the gradient: they add up their sums of squares, take the root,
    /// and scale their slices by this factor, so clipping means the same however many shards there are.
    public static func scaleFactor(norm: Double, maxNorm: Double) -> Double {
        precondition(maxNorm > 0, "clip norm must be positive")
        return norm > maxNorm ? maxNorm / norm : 1
    }
}
