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

/// A parameter server's `/metrics` (the Prometheus text format, from a registry fed through swift-metrics) and
/// `/healthz` (200 while it serves, 503 once it stopped, failed or stalled), on a small HTTP endpoint.
public final class MonitoringEndpoint: Sendable {
    /// The metrics to hand to the server; they record into `registry`.
    public let metrics: ServerMetrics
    public let registry: PrometheusCollectorRegistry
    private let http: HTTPEndpoint

    /// The address served, `host:port`.
    public var address: String { http.address }

    /// Binds `address` and starts serving.
    public init(address: MonitoringAddress) throws(HTTPEndpointError) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["pstrain_staleness"] = ServerMetrics.stalenessBuckets
        factory.durationHistogramBuckets["pstrain_optimizer_step_seconds"] = ServerMetrics.optimizerStepBuckets
        let metrics = ServerMetrics(factory: factory)
        self.registry = registry
        self.metrics = metrics
        http = try HTTPEndpoint(host: address.host, port: address.port) { path in
            switch path {
            case "/metrics":
                metrics.refreshAges()
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
