import ArgumentParser
import Monitoring

/// `--metrics`, for the commands that run a parameter server or a worker.
struct MetricsArgument: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Serve Prometheus metrics at /metrics and health at /healthz over HTTP: PORT (on 127.0.0.1) or HOST:PORT; 0 picks a free port. Off unless given.",
        valueName: "[host:]port"))
    var metrics: String?

    func validate() throws {
        guard let metrics else { return }
        do { _ = try MonitoringAddress(parsing: metrics) } catch { throw ValidationError(error.description) }
    }

    /// Starts the endpoint that `open` makes when `--metrics` was given; warns when it is reachable from other hosts.
    func start<Metrics>(_ open: (MonitoringAddress) throws -> MonitoringEndpoint<Metrics>) throws -> MonitoringEndpoint<Metrics>? {
        guard let metrics else { return nil }
        let address = try MonitoringAddress(parsing: metrics)
        if !address.isLoopback {
            printError("pstrain: metrics and health on \(metrics) are readable by every host that can reach it (no authentication)")
        }
        return try open(address)
    }
}
