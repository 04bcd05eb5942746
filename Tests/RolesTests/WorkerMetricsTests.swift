import Config
import Foundation
import MetricsTestKit
import Roles
import Testing
import Training
import Transport

/// A worker's metrics, recorded through swift-metrics into MetricsTestKit's factory, agree with what the run did.
@Suite struct WorkerMetricsTests {
    /// Two workers of a sync run whose shards differ in size, 120 and 121 rows in batches of 10: 12 and 13 batches
    /// an epoch. Worker 0 fills its 13th step with an empty push, which counts as a step and an exchange without a
    /// computation or a sample.
    @Test func everyStepIsCountedWithItsComputeAndExchangeTimes() throws {
        let c = RunConfig.softmaxOnBlobs(samples: 241, testSamples: 50)
        let factories = [TestMetrics(), TestMetrics()]
        let metrics = factories.map { WorkerMetrics(factory: $0) }
        let outcome = try InProcessCluster.run(c, workerMonitoring: metrics)
        let steps = outcome.summary.steps
        #expect(steps == 26)
        var samples: Int64 = 0
        for (rank, factory) in factories.enumerated() {
            #expect(try factory.expectCounter("pstrain_worker_steps_total").totalValue == Int64(steps), "worker \(rank)")
            samples += try factory.expectCounter("pstrain_worker_samples_total").totalValue
            #expect(try factory.expectGauge("pstrain_worker_rank").lastValue == Double(rank))
            #expect(try factory.expectGauge("pstrain_worker_step").lastValue == Double(steps))
            #expect(try factory.expectGauge("pstrain_worker_loss").lastValue?.isFinite == true)
            let exchanges = try factory.expectTimer("pstrain_worker_exchange_seconds").values
            #expect(exchanges.count == steps && exchanges.allSatisfy { $0 > 0 })
            let computations = try factory.expectTimer("pstrain_worker_compute_seconds").values
            #expect(computations.allSatisfy { $0 > 0 })
            #expect(computations.count == (rank == 0 ? 24 : 26), "one computation per batch of worker \(rank)")
            let health = metrics[rank].health()
            #expect(health.healthy && health.text.contains("\"phase\": \"finishing\""), "\(health.text)")
        }
        #expect(samples == Int64(outcome.summary.samples) && samples == 2 * 241)
    }

    @Test func aWorkerThatFailsIsUnhealthy() throws {
        var c = RunConfig()
        c.cluster.servers = 2
        let metrics = WorkerMetrics()
        let worker = Worker(run: try PreparedRun(config: c), transports: [InMemoryNetwork().connect()], rank: 0, monitoring: metrics,
                            log: { _ in })
        #expect(throws: WorkerError.self) { try worker.work() }
        let health = metrics.health()
        #expect(!health.healthy && health.text.contains("\"phase\": \"failed\""), "\(health.text)")
    }
}
