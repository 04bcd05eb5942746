import Foundation
import Roles
import Testing

/// The watchdog that ends a worker whose gradient computation hangs.
@Suite struct StepWatchdogTests {
    /// Messages the watchdog sent, and a signal for each.
    final class Reports: @unchecked Sendable {
        // @unchecked: `messages` is guarded by `lock`.
        private let lock = NSLock()
        private var messages: [String] = []
        let arrived = DispatchSemaphore(value: 0)
        func add(_ message: String) {
            lock.withLock { messages.append(message) }
            arrived.signal()
        }
        var all: [String] { lock.withLock { messages } }
    }

    @Test func aComputationLongerThanTheLimitIsReportedOnce() {
        let reports = Reports()
        let watchdog = StepWatchdog(limit: 0.2, overrun: reports.add)
        watchdog.begin(step: 41)
        #expect(reports.arrived.wait(timeout: .now() + 30) == .success, "no report of the overrun")
        // The computation goes on being late; it is reported only once.
        #expect(reports.arrived.wait(timeout: .now() + 1) == .timedOut)
        #expect(reports.all.count == 1 && reports.all[0].hasPrefix("step 41's gradient has been computing for over 0.2 s (cluster.step_timeout)"),
                "\(reports.all)")
        watchdog.end()
    }

    @Test func computationsThatEndInTimeAreNotReported() {
        let reports = Reports()
        let watchdog = StepWatchdog(limit: 0.2, overrun: reports.add)
        // Many short computations, together far longer than the limit: each is measured from its own beginning.
        let start = Date()
        var step = 0
        while Date().timeIntervalSince(start) < 1 {
            watchdog.begin(step: step)
            watchdog.end()
            step += 1
        }
        // Nothing is being computed between steps either.
        #expect(reports.arrived.wait(timeout: .now() + 1) == .timedOut, "\(reports.all)")
        #expect(reports.all.isEmpty)
    }
}
