import CoreMetrics
import Foundation

/// What a role's `/metrics` and `/healthz` serve from: figures recorded through swift-metrics, and a health answer.
public protocol MonitoredRole: AnyObject, Sendable {
    /// Brings the figures that change with time alone up to date; a scrape calls it first.
    func refreshBeforeScrape()
    /// Whether the role is doing its work, and a JSON object saying how it is, for `/healthz`.
    func health() -> (healthy: Bool, text: String)
}

/// What a worker reports to monitoring, through swift-metrics (Prometheus under `pstrain worker --metrics`;
/// nothing by default): the steps and samples it took, and where each step's time went: computing the gradient,
/// or exchanging it for the server's new weights (the push, the server's wait for the other workers and its
/// update, the weights' way back). In sync mode, a long exchange beside a short computation says the job is
/// bound by the network, the server or the slowest worker, not by this worker's compute.
///
/// The worker's thread records; the monitoring thread reads `health()`.
public final class WorkerMetrics: MonitoredRole, @unchecked Sendable {
    // @unchecked: the handles are thread-safe; `phase` is guarded by `lock`.

    /// Buckets of `pstrain_worker_compute_seconds` and `pstrain_worker_exchange_seconds`: from a small model's
    /// step on loopback (tens of microseconds) to a large one's over a slow network (seconds).
    public static let stepPartBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
    ]

    /// Where the worker is in its job, as `/healthz` reports it.
    public enum Phase: String, Sendable {
        case joining, training, finishing, failed
    }

    let steps, samples: Counter
    let compute, exchange: CoreMetrics.Timer
    let step, rank, loss: Gauge
    private let lock = NSLock()
    private var phase = Phase.joining

    /// Metrics made by `factory`; the default records nothing.
    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        steps = Counter(label: "pstrain_worker_steps_total", factory: factory)
        samples = Counter(label: "pstrain_worker_samples_total", factory: factory)
        compute = CoreMetrics.Timer(label: "pstrain_worker_compute_seconds", factory: factory)
        exchange = CoreMetrics.Timer(label: "pstrain_worker_exchange_seconds", factory: factory)
        step = Gauge(label: "pstrain_worker_step", factory: factory)
        rank = Gauge(label: "pstrain_worker_rank", factory: factory)
        loss = Gauge(label: "pstrain_worker_loss", factory: factory)
    }

    /// Registered (again) as `rank`, to go on from `step`.
    func joined(rank value: Int, step start: Int) {
        rank.record(value)
        step.record(start)
        entered(.training)
    }

    /// One step taken: `count` samples (0 for an empty push) whose loss was `batchLoss`, computed in
    /// `computeNanoseconds`; the exchange that followed took `exchangeNanoseconds`. `next` is the step to take next.
    func stepTaken(next: Int, samples count: Int, batchLoss: Float?, computeNanoseconds: UInt64?, exchangeNanoseconds: UInt64) {
        steps.increment()
        samples.increment(by: count)
        if let batchLoss { loss.record(Double(batchLoss)) }
        if let computeNanoseconds { compute.recordNanoseconds(Int64(computeNanoseconds)) }
        exchange.recordNanoseconds(Int64(exchangeNanoseconds))
        step.record(next)
    }

    func entered(_ next: Phase) {
        lock.withLock { phase = next }
    }

    public func refreshBeforeScrape() {}

    /// Healthy unless the worker failed. A worker waiting for its server is healthy: it gives up by itself after
    /// `cluster.server_timeout`.
    public func health() -> (healthy: Bool, text: String) {
        let phase = lock.withLock { self.phase }
        let healthy = phase != .failed
        return (healthy, "{\"status\": \"\(healthy ? "ok" : "unhealthy")\", \"phase\": \"\(phase.rawValue)\"}\n")
    }
}
