import Models
import Numerics
import Testing

@Suite struct LayoutAndInitTests {
    @Test func mlpLayoutIsContiguousAndNamed() {
        let spec = NetworkSpec(inputSize: 784, hiddenSizes: [256, 128], outputSize: 10, head: .multiclass)
        let layout = spec.layout
        #expect(layout.entries.map(\.name) == ["layer0.weight", "layer0.bias", "layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"])
        #expect(layout.count == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
        var next = 0
        for entry in layout.entries {
            #expect(entry.offset == next)
            next += entry.count
        }
        #expect(layout.hash == spec.layout.hash)
        #expect(layout.hash != NetworkSpec(inputSize: 784, hiddenSizes: [256, 64], outputSize: 10, head: .multiclass).layout.hash)
    }

    @Test(arguments: Initializer.allCases)
    func initialisersHaveTheRightSpreadAndZeroBiases(initializer: Initializer) {
        let spec = NetworkSpec(inputSize: 300, hiddenSizes: [200], outputSize: 10, head: .multiclass)
        var p = [Double](repeating: 7, count: spec.layout.count)
        p.withUnsafeMutableBufferPointer { initializer.fill($0, layout: spec.layout, seed: 1, scale: 0.05) }
        let w = spec.layout["layer0.weight"]!
        let values = Array(p[w.range])
        let variance = values.map { $0 * $0 }.reduce(0, +) / Double(values.count)
        let expected: Double = switch initializer {
        case .zeros: 0
        case .normal: 0.05 * 0.05
        case .uniform: 0.05 * 0.05 / 3
        case .xavierUniform, .xavierNormal: 2.0 / 500
        case .heNormal, .heUniform: 2.0 / 300
        }
        #expect(abs(variance - expected) <= 0.05 * expected + 1e-12, "\(initializer): variance \(variance), expected \(expected)")
        #expect(p[spec.layout["layer0.bias"]!.range].allSatisfy { $0 == 0 })
        var again = [Double](repeating: 0, count: spec.layout.count)
        again.withUnsafeMutableBufferPointer { initializer.fill($0, layout: spec.layout, seed: 1, scale: 0.05) }
        #expect(again == p, "seeded initialisation repeats exactly")
    }

    @Test func evaluationCountsAccuracyAndRegressionErrors() {
        // Softmax regression whose weights copy the input: predicts argmax of the input.
        let spec = NetworkSpec.softmaxRegression(inputs: 3, classes: 3)
        var p = [Float](repeating: 0, count: spec.layout.count)
        for i in 0 ..< 3 { p[i * 3 + i] = 1 }
        let x: [Float] = [5, 0, 0, 0, 5, 0, 0, 0, 5, 5, 0, 0]
        let y: [Float] = [0, 1, 2, 2]
        let e = p.withUnsafeBufferPointer { Network<Float>(spec: spec).evaluate(parameters: $0, inputs: x, targets: y, rows: 4, chunk: 3) }
        #expect(e.accuracy == 0.75)
        #expect(e.samples == 4)

        let lin = NetworkSpec.linearRegression(inputs: 1)
        let q: [Float] = [2, 1] // y = 2x + 1
        let r = q.withUnsafeBufferPointer { Network<Float>(spec: lin).evaluate(parameters: $0, inputs: [1, 2], targets: [3, 7], rows: 2) }
        #expect(r.meanSquaredError == 2)
        #expect(r.meanAbsoluteError == 1)
    }
}
