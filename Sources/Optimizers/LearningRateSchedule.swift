import Glibc

/// How the learning rate changes with the step number.
public enum ScheduleKind: String, Sendable, CaseIterable, Codable {
    /// The base rate throughout.
    case constant
    /// Multiplied by `gamma` every `stepSize` steps.
    case step
    /// Multiplied by `gamma` every `decaySteps` steps, smoothly: `base * gamma^(t / decaySteps)`.
    case exponential
    /// Half a cosine from the base rate down to `minimum` over `totalSteps`, then `minimum`.
    case cosine
}

/// A learning-rate schedule, optionally preceded by a linear warm-up.
///
/// During warm-up (`t < warmupSteps`) the rate rises linearly to the base: `base * (t + 1) / warmupSteps`.
/// After it, the schedule runs as if it had started at the end of the warm-up.
public struct LearningRateSchedule: Sendable, Equatable {
    public var base: Double
    public var kind: ScheduleKind
    public var gamma: Double
    public var stepSize: Int
    public var decaySteps: Int
    public var totalSteps: Int
    public var minimum: Double
    public var warmupSteps: Int

    public init(base: Double, kind: ScheduleKind = .constant, gamma: Double = 0.1, stepSize: Int = 1000, decaySteps: Int = 1,
                totalSteps: Int = 1, minimum: Double = 0, warmupSteps: Int = 0) {
        precondition(base > 0, "learning rate must be positive")
        precondition(stepSize > 0 && decaySteps > 0 && totalSteps > 0 && warmupSteps >= 0, "schedule step counts must be positive")
        self.base = base
        self.kind = kind
        self.gamma = gamma
        self.stepSize = stepSize
        self.decaySteps = decaySteps
        self.totalSteps = totalSteps
        self.minimum = minimum
        self.warmupSteps = warmupSteps
    }

    /// The learning rate for the step with zero-based index `t`.
    public func rate(atStep t: Int) -> Double {
        if t < warmupSteps { return base * Double(t + 1) / Double(warmupSteps) }
        let s = t - warmupSteps
        switch kind {
        case .constant:
            return base
        case .step:
            return base * pow(gamma, Double(s / stepSize))
        case .exponential:
            return base * pow(gamma, Double(s) / Double(decaySteps))
        case .cosine:
            let progress = Double(min(s, totalSteps)) / Double(totalSteps)
            return minimum + (base - minimum) * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}
