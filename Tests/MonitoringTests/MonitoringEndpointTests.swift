import Foundation
import Monitoring
import Testing

/// `/metrics` serves the registry the role's metrics record into; `/healthz` the role's health.
@Suite struct MonitoringEndpointTests {
    @Test func servesTheServersMetricsAndHealth() throws {
        let endpoint = try MonitoringEndpoint(serverAt: MonitoringAddress(parsing: "0"))
        defer { endpoint.close() }
        let port = try #require(Int(endpoint.address.split(separator: ":").last ?? ""))
        let metrics = try RawHTTPClient.exchange(port: port, "GET /metrics HTTP/1.1\r\n\r\n")
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "\(metrics)")
        for family in ["pstrain_updates_applied_total counter", "pstrain_step gauge", "pstrain_staleness histogram",
                       "pstrain_optimizer_step_seconds histogram", "pstrain_workers gauge", "pstrain_last_checkpoint_age_seconds gauge",
                       "pstrain_server_busy_seconds_total counter"] {
            #expect(metrics.contains("# TYPE \(family)\n"), "\(family) in \(metrics)")
        }
        #expect(metrics.contains("pstrain_staleness_bucket{le=\"128.0\"} 0\n"), "the staleness buckets are ours")
        let health = try RawHTTPClient.exchange(port: port, "GET /healthz HTTP/1.1\r\n\r\n")
        #expect(health.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"), "\(health)")
        #expect(health.contains("{\"status\": \"ok\", \"phase\": \"waiting_for_workers\""), "\(health)")
    }

    @Test func servesAWorkersMetricsAndHealth() throws {
        let endpoint = try MonitoringEndpoint(workerAt: MonitoringAddress(parsing: "0"))
        defer { endpoint.close() }
        let port = try #require(Int(endpoint.address.split(separator: ":").last ?? ""))
        let metrics = try RawHTTPClient.exchange(port: port, "GET /metrics HTTP/1.1\r\n\r\n")
        for family in ["pstrain_worker_steps_total counter", "pstrain_worker_samples_total counter", "pstrain_worker_step gauge",
                       "pstrain_worker_compute_seconds histogram", "pstrain_worker_exchange_seconds histogram"] {
            #expect(metrics.contains("# TYPE \(family)\n"), "\(family) in \(metrics)")
        }
        #expect(metrics.contains("pstrain_worker_exchange_seconds_bucket{le=\"5.0\"} 0\n"), "the step-part buckets are ours: \(metrics)")
        let health = try RawHTTPClient.exchange(port: port, "GET /healthz HTTP/1.1\r\n\r\n")
        #expect(health.hasPrefix("HTTP/1.1 200 OK\r\n") && health.contains("{\"status\": \"ok\", \"phase\": \"joining\"}"), "\(health)")
    }
}
