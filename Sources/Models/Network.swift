import Numerics

/// Runs a `NetworkSpec` forward and backward over a flat parameter vector.
///
/// The network owns only scratch buffers (sized for the largest batch seen so far, so steady-state
/// steps allocate nothing); parameters and gradients are the caller's. Not thread-safe: use one per thread.
public final class Network<T: Scalar> {
    public let spec: NetworkSpec
    public let layout: ParameterLayout
    @usableFromInline let sizes: [Int]
    @usableFromInline let weightOffsets: [Int]
    @usableFromInline let biasOffsets: [Int]
    @usableFromInline var capacity = 0
    /// Per layer: its output after the activation (the logits for the last layer).
    @usableFromInline var outputs: [UnsafeMutablePointer<T>] = []
    /// Per hidden layer, when dropout is on: the dropout mask and the output after dropout.
    @usableFromInline var masks: [UnsafeMutablePointer<T>] = []
    @usableFromInline var dropped: [UnsafeMutablePointer<T>] = []
    @usableFromInline var deltaA: UnsafeMutablePointer<T>
    @usableFromInline var deltaB: UnsafeMutablePointer<T>

    public init(spec: NetworkSpec) {
        self.spec = spec
        layout = spec.layout
        sizes = spec.layerSizes
        weightOffsets = (0 ..< sizes.count - 1).map { spec.layout["layer\($0).weight"]!.offset }
        biasOffsets = (0 ..< sizes.count - 1).map { spec.layout["layer\($0).bias"]!.offset }
        deltaA = .allocate(capacity: 1)
        deltaB = .allocate(capacity: 1)
    }

    deinit { releaseScratch() }

    @usableFromInline var layerCount: Int { sizes.count - 1 }
    @usableFromInline var usesDropout: Bool { spec.dropout > 0 }

    private func releaseScratch() {
        (outputs + masks + dropped + [deltaA, deltaB]).forEach { $0.deallocate() }
        outputs = []; masks = []; dropped = []
    }

    /// Makes sure the scratch buffers hold `rows` samples.
    @usableFromInline func reserve(rows: Int) {
        guard rows > capacity else { return }
        releaseScratch()
        capacity = rows
        outputs = (1 ..< sizes.count).map { .allocate(capacity: rows * sizes[$0]) }
        if usesDropout {
            masks = spec.hiddenSizes.map { .allocate(capacity: rows * $0) }
            dropped = spec.hiddenSizes.map { .allocate(capacity: rows * $0) }
        }
        let widest = sizes.max()!
        deltaA = .allocate(capacity: rows * widest)
        deltaB = .allocate(capacity: rows * widest)
    }

    /// The input the layer `l` sees: the data for layer 0, else the previous layer's (dropped-out) output.
    @usableFromInline func layerInput(_ l: Int, data: UnsafePointer<T>) -> UnsafePointer<T> {
        if l == 0 { return data }
        return UnsafePointer(usesDropout ? dropped[l - 1] : outputs[l - 1])
    }

    /// Computes the logits for `rows` samples; dropout applies only when `training` is true.
    @inlinable
    @discardableResult
    public func forward(parameters: UnsafeBufferPointer<T>, inputs: UnsafePointer<T>, rows: Int, training: Bool = false, rng: inout SeededGenerator) -> UnsafeBufferPointer<T> {
        precondition(parameters.count == layout.count, "expected \(layout.count) parameters, got \(parameters.count)")
        reserve(rows: rows)
        let p = parameters.baseAddress!
        for l in 0 ..< layerCount {
            let count = rows * sizes[l + 1]
            DenseKernels.forward(
                input: layerInput(l, data: inputs), rows: rows, inputs: sizes[l],
                weights: p + weightOffsets[l], bias: p + biasOffsets[l], outputs: sizes[l + 1],
                output: outputs[l])
            guard l < layerCount - 1 else { break }
            spec.activation.forward(outputs[l], count: count)
            if usesDropout {
                if training {
                    Dropout.makeMask(masks[l], count: count, rate: spec.dropout, rng: &rng)
                    Dropout.apply(outputs[l], mask: masks[l], output: dropped[l], count: count)
                } else {
                    dropped[l].update(from: outputs[l], count: count)
                }
            }
        }
        return UnsafeBufferPointer(start: outputs[layerCount - 1], count: rows * spec.outputSize)
    }

    /// One training step's math: the mean loss over `rows` samples, with its gradient written into `gradient`.
    ///
    /// `targets` holds class indices (multiclass), 0/1 (binary) or `rows x outputSize` values (regression).
    @inlinable
    public func lossAndGradient(
        parameters: UnsafeBufferPointer<T>, inputs: UnsafePointer<T>, targets: UnsafePointer<T>, rows: Int,
        gradient: UnsafeMutableBufferPointer<T>, training: Bool = true, rng: inout SeededGenerator
    ) -> T {
        precondition(gradient.count == layout.count, "expected \(layout.count) gradient values, got \(gradient.count)")
        let logits = forward(parameters: parameters, inputs: inputs, rows: rows, training: training, rng: &rng)
        let scale = 1 / T(rows)
        let lossSum = spec.head.loss(
            logits: logits.baseAddress!, targets: targets, rows: rows, columns: spec.outputSize,
            gradient: deltaA, gradientScale: scale)
        let p = parameters.baseAddress!, g = gradient.baseAddress!
        var delta = deltaA, previous = deltaB
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            DenseKernels.backward(
                input: layerInput(l, data: inputs), rows: rows, inputs: sizes[l],
                weights: p + weightOffsets[l], outputs: sizes[l + 1], outputGradient: delta,
                weightGradient: g + weightOffsets[l], biasGradient: g + biasOffsets[l],
                inputGradient: l > 0 ? previous : nil)
            guard l > 0 else { break }
            let count = rows * sizes[l]
            if usesDropout {
                Dropout.apply(previous, mask: masks[l - 1], output: previous, count: count)
            }
            spec.activation.backward(output: outputs[l - 1], gradient: previous, count: count)
            swap(&delta, &previous)
        }
        return lossSum * scale
    }
}
