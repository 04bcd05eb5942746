import CoreMetrics
import Foundation
import Transport

/// What the parameter server reports to monitoring, through swift-metrics: counters, gauges and histograms for
/// whichever backend the factory belongs to (Prometheus under `pstrain server --metrics`; nothing by default),
/// and the health that `/healthz` answers.
///
/// The server's thread records; the monitoring thread reads `health()` and calls `refreshAges()` before a scrape.
public final class ServerMetrics: MonitoredRole, @unchecked Sendable {
    // @unchecked: the handles are thread-safe; the mutable state below is guarded by `lock`.

    /// Buckets of `pstrain_staleness` (versions), for backends that take them per metric.
    public static let stalenessBuckets: [Double] = [0, 1, 2, 4, 8, 16, 32, 64, 128]
    /// Buckets of `pstrain_optimizer_step_seconds`: one update of a small model takes microseconds.
    public static let optimizerStepBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
    ]
    /// A serve loop that has not turned for this long is reported unhealthy (it turns at least every 250 ms).
    public static let stallLimit: TimeInterval = 30

    /// Where the server is in its job, as `/healthz` reports it.
    public enum Phase: String, Sendable {
        case waitingForWorkers = "waiting_for_workers", training, finishing, finished, stopped, failed
    }

    /// The worker states `pstrain_workers` counts, as `pstrain status` names them.
    static let workerStates = ["live", "lost", "done", "joining", "unregistered"]
    /// The states of shard 0's fellow shards that `pstrain_server_shards` counts, as `pstrain status` names them.
    static let shardStates = ["live", "silent", "probing"]

    /// How many workers, and other server shards (shard 0 of several only), are in each state.
    struct MemberStates {
        var workers: [String: Int]
        var shards: [String: Int]
    }

    let factory: any MetricsFactory
    let updatesApplied, samples, bytesSent, bytesReceived, messagesSent, messagesReceived, messagesDropped: Counter
    let staleness: Recorder
    let optimizerStep: CoreMetrics.Timer
    let busy: FloatingPointCounter
    let step, totalSteps, loss, learningRate, testLoss, testAccuracy, checkpointStep, checkpointAge, compressionBuffers: Gauge
    let workers, shards: [String: Gauge]

    private let lock = NSLock()
    private var rejected: [String: Counter] = [:]
    private var phase = Phase.waitingForWorkers
    private var loopTurnedAt = Date()
    private var lastCheckpointAt: Date?
    /// The traffic already added to the counters; the server's thread alone uses it.
    private var publishedTraffic = Traffic()
    /// The busy time already added to its counter; the server's thread alone uses it.
    private var publishedBusyNanoseconds: UInt64 = 0
    private var lastPublished = Date.distantPast

    /// Metrics made by `factory`; the default records nothing.
    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
        func counter(_ label: String) -> Counter { Counter(label: label, factory: factory) }
        func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Gauge { Gauge(label: label, dimensions: dimensions, factory: factory) }
        updatesApplied = counter("pstrain_updates_applied_total")
        samples = counter("pstrain_samples_total")
        bytesSent = counter("pstrain_sent_bytes_total")
        bytesReceived = counter("pstrain_received_bytes_total")
        messagesSent = counter("pstrain_sent_messages_total")
        messagesReceived = counter("pstrain_received_messages_total")
        messagesDropped = counter("pstrain_dropped_messages_total")
        staleness = Recorder(label: "pstrain_staleness", dimensions: [], aggregate: true, factory: factory)
        optimizerStep = CoreMetrics.Timer(label: "pstrain_optimizer_step_seconds", factory: factory)
        busy = FloatingPointCounter(label: "pstrain_server_busy_seconds_total", factory: factory)
        step = gauge("pstrain_step")
        totalSteps = gauge("pstrain_total_steps")
        loss = gauge("pstrain_loss")
        learningRate = gauge("pstrain_learning_rate")
        testLoss = gauge("pstrain_test_loss")
        testAccuracy = gauge("pstrain_test_accuracy")
        checkpointStep = gauge("pstrain_last_checkpoint_step")
        checkpointAge = gauge("pstrain_last_checkpoint_age_seconds")
        compressionBuffers = gauge("pstrain_compression_buffer_bytes")
        workers = Dictionary(uniqueKeysWithValues: Self.workerStates.map { ($0, gauge("pstrain_workers", [("state", $0)])) })
        shards = Dictionary(uniqueKeysWithValues: Self.shardStates.map { ($0, gauge("pstrain_server_shards", [("state", $0)])) })
    }

    /// One update applied: `samples` examples, computed `staleness` versions behind, its optimizer step timed.
    func updateApplied(samples count: Int, staleness versions: Int, optimizerNanoseconds: Int64, loss meanLoss: Double, learningRate rate: Double) {
        updatesApplied.increment()
        samples.increment(by: count)
        staleness.record(versions)
        optimizerStep.recordNanoseconds(optimizerNanoseconds)
        loss.record(meanLoss)
        learningRate.record(rate)
    }

    /// One message rejected, by reason (the reasons of `rejectedByReason`).
    func rejected(reason: String) {
        let counter = lock.withLock {
            if let existing = rejected[reason] { return existing }
            let made = Counter(label: "pstrain_rejected_messages_total", dimensions: [("reason", reason)], factory: factory)
            rejected[reason] = made
            return made
        }
        counter.increment()
    }

    /// With compression: the bytes the server holds for encoded weight changes (steady once the run is under way).
    func compressionBuffersHeld(bytes: Int) {
        compressionBuffers.record(bytes)
    }

    func evaluated(loss value: Double, accuracy: Double?) {
        testLoss.record(value)
        if let accuracy { testAccuracy.record(accuracy) }
    }

    func checkpointed(step value: Int, at time: Date) {
        checkpointStep.record(value)
        lock.withLock { lastCheckpointAt = time }
        checkpointAge.record(0)
    }

    func entered(_ next: Phase) {
        lock.withLock { phase = next }
    }

    /// Called on every turn of the serve loop: notes that it turns, and at most ten times a second publishes the
    /// figures that change continuously.
    func loopTurned(version: UInt64, totalSteps total: Int, traffic: Traffic, busyNanoseconds: UInt64, memberStates: () -> MemberStates) {
        let now = Date()
        let due = lock.withLock {
            loopTurnedAt = now
            return now.timeIntervalSince(lastPublished) >= 0.1
        }
        if due { publish(version: version, totalSteps: total, traffic: traffic, busyNanoseconds: busyNanoseconds, memberStates: memberStates()) }
    }

    /// Publishes the version, the traffic and busy time so far, and the workers' and other shards' states.
    func publish(version: UInt64, totalSteps total: Int, traffic: Traffic, busyNanoseconds: UInt64, memberStates counts: MemberStates) {
        lock.withLock { lastPublished = Date() }
        step.record(Int(version))
        totalSteps.record(total)
        if busyNanoseconds > publishedBusyNanoseconds {
            busy.increment(by: Double(busyNanoseconds - publishedBusyNanoseconds) / 1e9)
            publishedBusyNanoseconds = busyNanoseconds
        }
        bytesSent.increment(by: traffic.bytesSent - publishedTraffic.bytesSent)
        bytesReceived.increment(by: traffic.bytesReceived - publishedTraffic.bytesReceived)
        messagesSent.increment(by: traffic.messagesSent - publishedTraffic.messagesSent)
        messagesReceived.increment(by: traffic.messagesReceived - publishedTraffic.messagesReceived)
        messagesDropped.increment(by: traffic.messagesDropped - publishedTraffic.messagesDropped)
        publishedTraffic = traffic
        for (state, gauge) in workers { gauge.record(counts.workers[state, default: 0]) }
        for (state, gauge) in shards { gauge.record(counts.shards[state, default: 0]) }
    }

    /// Sets the gauges that age with time; a scrape calls it first.
    public func refreshAges(now: Date = Date()) {
        if let at = lock.withLock({ lastCheckpointAt }) { checkpointAge.record(now.timeIntervalSince(at)) }
    }

    public func refreshBeforeScrape() { refreshAges() }

    public func health() -> (healthy: Bool, text: String) { health(now: Date()) }

    /// Whether the server is serving: its phase is not `stopped` or `failed`, and its loop turned within
    /// `stallLimit`. The text says which, for `/healthz`.
    public func health(now: Date) -> (healthy: Bool, text: String) {
        let (phase, turnedAt): (Phase, Date) = lock.withLock { (self.phase, loopTurnedAt) }
        let age = now.timeIntervalSince(turnedAt)
        let stalled = age > Self.stallLimit && phase != .finished
        let healthy = !stalled && phase != .stopped && phase != .failed
        let text = "{\"status\": \"\(healthy ? "ok" : "unhealthy")\", \"phase\": \"\(phase.rawValue)\", "
            + String(format: "\"loop_idle_seconds\": %.3f", age) + (stalled ? ", \"stalled\": true" : "") + "}\n"
        return (healthy, text)
    }
}
