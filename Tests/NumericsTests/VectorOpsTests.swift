import Numerics
import Testing

/// The element-wise kernels, above all that their fused forms give exactly the bits of the passes they replace.
@Suite struct VectorOpsTests {
    @Test func vectorOps() {
        var x: [Float] = [3, 4]
        x.withUnsafeBufferPointer { #expect(VectorOps.sumOfSquares($0) == 25) }
        x.withUnsafeMutableBufferPointer { VectorOps.scale($0, by: 2) }
        #expect(x == [6, 8])
    }

    @Test func copySumOfSquaresCopiesMeasuresAndExposesNonFiniteValues() {
        for count in [0, 3, 8, 21] {
            let values = (0 ..< count).map { Float($0) - 7.5 }
            var copy = [Float](repeating: 0, count: count)
            let squares = values.withUnsafeBytes { raw in copy.withUnsafeMutableBufferPointer { VectorOps.copySumOfSquares(from: raw, into: $0) } }
            #expect(copy == values)
            #expect(squares == values.map { Double($0) * Double($0) }.reduce(0, +))
        }
        for bad in [Float.nan, .infinity, -.infinity] {
            var values = [Float](repeating: 1, count: 20)
            values[13] = bad
            var copy = values
            let squares = values.withUnsafeBytes { raw in copy.withUnsafeMutableBufferPointer { VectorOps.copySumOfSquares(from: raw, into: $0) } }
            #expect(!squares.isFinite, "a \(bad) must make the sum non-finite")
        }
        // The largest finite floats still square to a finite Double.
        let huge = [Float](repeating: .greatestFiniteMagnitude, count: 9)
        var copy = huge
        #expect(huge.withUnsafeBytes { raw in copy.withUnsafeMutableBufferPointer { VectorOps.copySumOfSquares(from: raw, into: $0) } }.isFinite)
    }

    /// The five passes the sync server used before `weightedSum`: zero, add each source scaled, scale, measure.
    func separatePasses(_ sources: [[Float]], _ weights: [Float], _ factor: Float) -> ([Float], Double) {
        var sum = [Float](repeating: 0, count: sources.first?.count ?? 0)
        sum.withUnsafeMutableBufferPointer { s in
            for (source, weight) in zip(sources, weights) { source.withUnsafeBufferPointer { VectorOps.addScaled($0, times: weight, into: s) } }
            VectorOps.scale(s, by: factor)
        }
        return (sum, sum.withUnsafeBufferPointer { VectorOps.sumOfSquares($0) })
    }

    @Test(arguments: [1, 2, 3, 5])
    func weightedSumIsBitIdenticalToSeparatePasses(sourceCount: Int) {
        var rng = SeededGenerator(seed: UInt64(sourceCount))
        for count in [0, 1, 7, 8, 9, 64, 1003] {
            var sources = (0 ..< sourceCount).map { _ in (0 ..< count).map { _ in Float(rng.normal()) * 3 } }
            // Signed zeros and values whose sum rounds: where a different order or a fused multiply-add would show.
            if count > 2 { sources[0][0] = -0.0; sources[0][1] = 1e-8; sources[sourceCount - 1][1] = 1 }
            let weights = (0 ..< sourceCount).map { Float(17 + 13 * $0) }
            let factor = 1 / weights.reduce(0, +)
            let (expected, expectedSquares) = separatePasses(sources, weights, factor)
            var fused = [Float](repeating: .nan, count: count)
            let squares = withBuffers(sources) { buffers in
                fused.withUnsafeMutableBufferPointer { VectorOps.weightedSum(of: buffers, weights: weights, times: factor, into: $0) }
            }
            #expect(fused.map(\.bitPattern) == expected.map(\.bitPattern), "\(sourceCount) sources of \(count)")
            #expect(squares.bitPattern == expectedSquares.bitPattern, "\(sourceCount) sources of \(count)")
        }
    }

    @Test func weightedSumPassesNonFiniteValuesToItsSumOfSquares() {
        for bad in [Float.nan, .infinity] {
            var first = [Float](repeating: 1, count: 19)
            first[11] = bad
            let second = [Float](repeating: 2, count: 19)
            var sum = [Float](repeating: 0, count: 19)
            let squares = withBuffers([first, second]) { b in sum.withUnsafeMutableBufferPointer { VectorOps.weightedSum(of: b, weights: [1, 1], times: 0.5, into: $0) } }
            #expect(!squares.isFinite)
        }
    }

    func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
        guard let first = arrays.first else { return body([]) }
        return first.withUnsafeBufferPointer { head in withBuffers(Array(arrays.dropFirst())) { body([head] + $0) } }
    }
}
