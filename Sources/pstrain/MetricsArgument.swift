import ArgumentParser
import Monitoring
import Roles

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

/// `pstrain launch`'s `--worker-metrics`: where each worker serves its metrics.
struct WorkerMetricsArgument: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Serve each worker's Prometheus metrics and health too: worker K at PORT + K, on 127.0.0.1 or HOST; 0 gives each a free port. Off unless given.",
        valueName: "[host:]port"))
    var workerMetrics: String?

    func validate() throws { _ = try Self.ports(workerMetrics) }

    /// The workers' ports from a `--worker-metrics` value; with `workers`, checked to end at 65535 at most.
    static func ports(_ value: String?, workers: Int? = nil) throws -> WorkerMetricsPorts? {
        guard let value else { return nil }
        let address: MonitoringAddress
        do { address = try MonitoringAddress(parsing: value) } catch {
            throw ValidationError(error.description.replacingOccurrences(of: "--metrics", with: "--worker-metrics"))
        }
        if let workers, address.port != 0, address.port + workers - 1 > 65535 {
            throw ValidationError("--worker-metrics \(value): \(workers) workers need ports up to \(address.port + workers - 1), past 65535; "
                                  + "give a lower port, or 0 for free ports")
        }
        return WorkerMetricsPorts(host: address.host, port: address.port)
    }
}
