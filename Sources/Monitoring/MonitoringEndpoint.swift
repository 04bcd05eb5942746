import CoreMetrics
import Prometheus
import Roles

/// Where `--metrics` serves: `PORT` (on loopback) or `HOST:PORT`.
public struct MonitoringAddress: Equatable, Sendable {
    public var host: String
    public var port: Int

    /// Reads `9400`, `127.0.0.1:9400`, `0.0.0.0:9400` or `[::1]:9400`; port 0 picks a free one.
    public init(parsing text: String) throws(HTTPEndpointError) {
        let hint = "write --metrics PORT (loopback) or --metrics HOST:PORT, e.g. --metrics 9400 or --metrics 0.0.0.0:9400"
        let hostPart: Substring, portPart: Substring
        if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            guard !hostPart.isEmpty else { throw HTTPEndpointError(description: "--metrics \(text): no host before the colon\n  hint: \(hint)") }
        } else {
            hostPart = "127.0.0.1"
            portPart = Substring(text)
        }
        guard let port = Int(portPart), (0 ... 65535).contains(port) else {
            throw HTTPEndpointError(description: "--metrics \(text): '\(portPart)' is not a port (0 to 65535)\n  hint: \(hint)")
        }
        host = String(hostPart)
        self.port = port
    }

    /// Whether only this host can reach the address.
    public var isLoopback: Bool {
        host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "::1"
    }
}

/// A role's `/metrics` (the Prometheus text format, from a registry fed through swift-metrics) and `/healthz`
/// (200 while it does its work, 503 once it stopped, failed or stalled), on a small HTTP endpoint.
public final class MonitoringEndpoint<Metrics: MonitoredRole>: Sendable {
    /// The metrics to hand to the role; they record into `registry`.
    public let metrics: Metrics
    public let registry: PrometheusCollectorRegistry
    private let http: HTTPEndpoint

    /// The address served, `host:port`.
    public var address: String { http.address }

    /// Binds `address` and starts serving the metrics `make` creates with the endpoint's factory.
    /// - Parameters:
    ///   - durationBuckets: histogram buckets of timers, by label (Prometheus's defaults otherwise).
    ///   - valueBuckets: histogram buckets of recorders, by label.
    public init(address: MonitoringAddress, durationBuckets: [String: [Duration]] = [:], valueBuckets: [String: [Double]] = [:],
                metrics make: (any MetricsFactory) -> Metrics) throws(HTTPEndpointError) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets.merge(durationBuckets) { $1 }
        factory.valueHistogramBuckets.merge(valueBuckets) { $1 }
        let metrics = make(factory)
        self.registry = registry
        self.metrics = metrics
        http = try HTTPEndpoint(host: address.host, port: address.port) { path in
            switch path {
            case "/metrics":
                metrics.refreshBeforeScrape()
                return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
            case "/healthz":
                let health = metrics.health()
                return HTTPResponse(status: health.healthy ? 200 : 503, contentType: "application/json", body: Array(health.text.utf8))
            default:
                return nil
            }
        }
        http.start()
    }

    /// Stops serving and releases the port.
    public func close() { http.close() }
}

extension MonitoringEndpoint where Metrics == ServerMetrics {
    /// A parameter server's endpoint.
    public convenience init(serverAt address: MonitoringAddress) throws(HTTPEndpointError) {
        try self.init(address: address, durationBuckets: ["pstrain_optimizer_step_seconds": ServerMetrics.optimizerStepBuckets],
                      valueBuckets: ["pstrain_staleness": ServerMetrics.stalenessBuckets]) { ServerMetrics(factory: $0) }
    }
}

extension MonitoringEndpoint where Metrics == WorkerMetrics {
    /// A worker's endpoint.
    public convenience init(workerAt address: MonitoringAddress) throws(HTTPEndpointError) {
        try self.init(address: address, durationBuckets: ["pstrain_worker_compute_seconds": WorkerMetrics.stepPartBuckets,
                                                          "pstrain_worker_exchange_seconds": WorkerMetrics.stepPartBuckets]) {
            WorkerMetrics(factory: $0)
        }
    }
}
