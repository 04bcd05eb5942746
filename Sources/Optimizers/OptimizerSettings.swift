/// Which update rule the optimizer applies.
public enum OptimizerKind: String, Sendable, CaseIterable, Codable {
    case sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad
}

/// Hyperparameters of an optimizer. Conventions follow PyTorch's `torch.optim`, so results compare directly.
public struct OptimizerSettings: Sendable, Equatable {
    public var kind: OptimizerKind
    /// Momentum coefficient for `momentum` and `nesterov` (and RMSprop's optional momentum).
    public var momentum: Double
    /// Adam's decay rates for the first and second moment.
    public var beta1: Double
    public var beta2: Double
    /// Added to denominators (Adam, RMSprop, AdaGrad).
    public var epsilon: Double
    /// RMSprop's decay rate of the squared-gradient average (PyTorch's `alpha`).
    public var rho: Double
    /// AdaGrad's starting value of the squared-gradient sum.
    public var initialAccumulator: Double
    /// Decoupled weight decay (Loshchilov & Hutter): `w -= lr * weightDecay * w` before the update.
    public var weightDecay: Double
    /// L1 and L2 penalties added to the gradient: `g += l1 * sign(w) + l2 * w`. Both together are the elastic net.
    public var l1: Double
    public var l2: Double

    /// `momentum` left out is the kind's default (`momentum(_:of:)`).
    public init(kind: OptimizerKind, momentum: Double? = nil, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                rho: Double = 0.99, initialAccumulator: Double = 0, weightDecay: Double? = nil, l1: Double = 0, l2: Double = 0) {
        self.kind = kind
        self.momentum = Self.momentum(momentum, of: kind)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.rho = rho
        self.initialAccumulator = initialAccumulator
        // AdamW is Adam with decoupled decay; PyTorch's default decay for it is 0.01.
        self.weightDecay = weightDecay ?? (kind == .adamw ? 0.01 : 0)
        self.l1 = l1
        self.l2 = l2
    }

    /// The momentum `kind` uses when given `momentum`: when left out, 0.9 for `momentum` and `nesterov`, and none
    /// (0) for RMSprop, as PyTorch's RMSprop. Kinds without momentum get 0.9, which configs once wrote out for every
    /// kind: the job ids of runs that did stay what they were.
    public static func momentum(_ momentum: Double?, of kind: OptimizerKind) -> Double {
        momentum ?? (kind == .rmsprop ? 0 : 0.9)
    }
}
