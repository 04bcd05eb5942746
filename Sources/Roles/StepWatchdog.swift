import Foundation

/// Watches a worker's gradient computations from a thread of its own and reports one that runs longer than a
/// limit. A long computation runs while the worker keeps heartbeating (`BeatingComputation`), so the server cannot
/// tell a hung one (a deadlock, a read that never returns) from a slow one: without a limit, a sync job would wait
/// for it forever. The report comes once, from the watchdog's thread, while the computation is still running.
public final class StepWatchdog {
    private let watch: Watch

    /// Starts the watching thread (it ends with this object); `overrun` is called with a message naming the step
    /// and the limit.
    public init(limit: TimeInterval, overrun: @escaping @Sendable (String) -> Void) {
        let watch = Watch()
        self.watch = watch
        // Checked a few times per limit, and at least every second, so an overrun is seen soon after it happens.
        let period = min(limit / 4, 1)
        Thread { watch.run(limit: limit, period: period, overrun: overrun) }.start()
    }

    /// A computation of `step` begins now.
    public func begin(step: Int) {
        watch.condition.withLock { watch.current = (step, DispatchTime.now().uptimeNanoseconds) }
    }

    /// The computation begun last has ended.
    public func end() {
        watch.condition.withLock { watch.current = nil }
    }

    deinit {
        watch.condition.withLock {
            watch.stopping = true
            watch.condition.signal()
        }
    }

    /// The state the watching thread shares with the worker's.
    final class Watch: @unchecked Sendable {
        // @unchecked: every field is guarded by `condition`.
        let condition = NSCondition()
        var current: (step: Int, since: UInt64)?
        var stopping = false

        func run(limit: TimeInterval, period: TimeInterval, overrun: @Sendable (String) -> Void) {
            condition.lock()
            defer { condition.unlock() }
            var reported = false
            while !stopping {
                if !reported, let (step, since) = current, Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9 > limit {
                    reported = true
                    condition.unlock()
                    overrun("step \(step)'s gradient has been computing for over \(String(format: "%g", limit)) s (cluster.step_timeout): "
                            + "it looks hung. Ending this worker so that it can be restarted; raise "
                            + "cluster.step_timeout (0: no limit) if its steps really take that long")
                    condition.lock()
                }
                _ = condition.wait(until: Date().addingTimeInterval(period))
            }
        }
    }
}
