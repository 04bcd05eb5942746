import Foundation

/// Training time: the wall time of a training loop (its steps, their bookkeeping, checkpoints), less what it
/// spends evaluating. A single process and a cluster's server count it alike, so their samples/s compare.
public struct TrainingClock {
    private var lastTick: Date

    /// Starts counting at `start`.
    public init(startingAt start: Date = Date()) { lastTick = start }

    /// The training time since the last lap (or the start, or the end of the last excluded span), ending at `now`.
    public mutating func lap(at now: Date = Date()) -> Double {
        defer { lastTick = now }
        return max(now.timeIntervalSince(lastTick), 0)
    }

    /// Leaves out the time up to `now` (an evaluation just ended): the next lap starts there.
    public mutating func exclude(until now: Date = Date()) { lastTick = now }
}
