/// The shape of a feed-forward model. Linear, logistic and softmax regression are the special case
/// with no hidden layer; an MLP adds hidden layers with an activation and optional dropout.
public struct NetworkSpec: Sendable, Equatable {
    public var inputSize: Int
    public var hiddenSizes: [Int]
    public var outputSize: Int
    public var activation: Activation
    /// Probability of dropping a hidden unit at training time; 0 turns dropout off.
    public var dropout: Double
    public var head: OutputHead

    public init(inputSize: Int, hiddenSizes: [Int] = [], outputSize: Int, activation: Activation = .relu, dropout: Double = 0, head: OutputHead) {
        precondition(inputSize > 0 && outputSize > 0 && hiddenSizes.allSatisfy { $0 > 0 }, "layer sizes must be positive")
        precondition(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)")
        precondition(head != .binary || outputSize == 1, "a binary head has exactly one output")
        self.inputSize = inputSize
        self.hiddenSizes = hiddenSizes
        self.outputSize = outputSize
        self.activation = activation
        self.dropout = dropout
        self.head = head
    }

    /// Linear regression with mean squared error.
    public static func linearRegression(inputs: Int, outputs: Int = 1) -> NetworkSpec {
        NetworkSpec(inputSize: inputs, outputSize: outputs, head: .regression)
    }

    /// Logistic regression with binary cross-entropy.
    public static func logisticRegression(inputs: Int) -> NetworkSpec {
        NetworkSpec(inputSize: inputs, outputSize: 1, head: .binary)
    }

    /// Softmax (multinomial logistic) regression with cross-entropy.
    public static func softmaxRegression(inputs: Int, classes: Int) -> NetworkSpec {
        NetworkSpec(inputSize: inputs, outputSize: classes, head: .multiclass)
    }

    /// Widths of every layer from input to output.
    public var layerSizes: [Int] { [inputSize] + hiddenSizes + [outputSize] }

    /// The flat parameter layout: `layerL.weight` (`in x out`) then `layerL.bias` (`out`) for each layer.
    public var layout: ParameterLayout {
        var layout = ParameterLayout()
        let sizes = layerSizes
        for l in 0 ..< sizes.count - 1 {
            layout.append("layer\(l).weight", shape: [sizes[l], sizes[l + 1]], role: .weight)
            layout.append("layer\(l).bias", shape: [sizes[l + 1]], role: .bias)
        }
        return layout
    }
}
