import Config
import Foundation
import MetricsTestKit
import Roles
import Testing
import Wire

/// The server's metrics, recorded through swift-metrics into MetricsTestKit's factory, agree exactly with what
/// the run reports of itself; `/healthz`'s answer follows the server's phase.
@Suite struct ServerMetricsTests {
    func config(mode: ConsistencyMode) -> RunConfig {
        RunConfig.softmaxOnBlobs(samples: 240, testSamples: 60, mode: mode)
    }

    @Test func aSyncRunCountsEveryUpdateSampleAndByte() throws {
        let factory = TestMetrics()
        let monitoring = ServerMetrics(factory: factory)
        let outcome = try InProcessCluster.run(config(mode: .sync), monitoring: monitoring)
        let summary = outcome.summary
        #expect(summary.steps == 24)
        #expect(try factory.expectCounter("pstrain_updates_applied_total").totalValue == Int64(summary.steps))
        #expect(try factory.expectCounter("pstrain_samples_total").totalValue == Int64(summary.samples))
        #expect(try factory.expectCounter("pstrain_sent_bytes_total").totalValue == Int64(summary.bytesSent!))
        #expect(try factory.expectCounter("pstrain_received_bytes_total").totalValue == Int64(summary.bytesReceived!))
        #expect(try factory.expectGauge("pstrain_step").lastValue == Double(summary.steps))
        #expect(try factory.expectGauge("pstrain_total_steps").lastValue == Double(summary.steps))
        #expect(try factory.expectGauge("pstrain_workers", [("state", "done")]).lastValue == 2)
        #expect(try factory.expectGauge("pstrain_workers", [("state", "live")]).lastValue == 0)
        #expect(try factory.expectGauge("pstrain_test_accuracy").lastValue == summary.testAccuracy)
        let staleness = try factory.expectRecorder("pstrain_staleness").values
        #expect(staleness.count == summary.steps && staleness.allSatisfy { $0 == 0 }, "sync updates are never stale")
        let stepTimes = try factory.expectTimer("pstrain_optimizer_step_seconds").values
        #expect(stepTimes.count == summary.steps && stepTimes.allSatisfy { $0 > 0 })
        #expect(try factory.expectGauge("pstrain_last_checkpoint_step").lastValue == Double(summary.steps), "the final checkpoint")
        #expect(factory.counters(label: "pstrain_rejected_messages_total").isEmpty)
        let health = monitoring.health()
        #expect(health.healthy && health.text.contains("\"phase\": \"finished\""), "\(health.text)")
    }

    @Test func anAsyncRunRecordsEachUpdatesStaleness() throws {
        let factory = TestMetrics()
        let outcome = try InProcessCluster.run(config(mode: .async), monitoring: ServerMetrics(factory: factory))
        let staleness = try factory.expectRecorder("pstrain_staleness").values
        #expect(staleness.count == outcome.summary.steps)
        #expect(staleness.max() == Double(outcome.summary.maxStaleness!))
    }

    @Test func rejectsAreCountedByReason() throws {
        let factory = TestMetrics()
        let server = try ScriptedServer(monitoring: ServerMetrics(factory: factory))
        var w0 = try ScriptedWorker(server, rank: 0), w1 = try ScriptedWorker(server, rank: 1)
        try w0.sendPush(gradient: 1)
        try w1.sendPush(gradient: .nan)
        #expect(try w0.awaitWeights()?.version == 1)
        #expect(try factory.expectCounter("pstrain_rejected_messages_total", [("reason", "non_finite")]).totalValue == 1)
        #expect(try factory.expectCounter("pstrain_updates_applied_total").totalValue == 1)
    }

    /// The buffers of compressed weight changes are handed back and reused once every worker is past them: what
    /// the server holds stays flat over a run instead of growing by a change and a payload every step.
    @Test(arguments: [GradientCompression.fp16, .topk])
    func compressedChangesHoldAFixedAmountOfMemory(compression: GradientCompression) throws {
        var c = config(mode: .sync)
        c.train.epochs = 4
        c.cluster.compression = compression
        let factory = TestMetrics()
        let outcome = try InProcessCluster.run(c, monitoring: ServerMetrics(factory: factory))
        let held = try factory.expectGauge("pstrain_compression_buffer_bytes").values
        #expect(outcome.summary.steps == 48 && held.count >= 40)
        let parameters = outcome.summary.parameters
        let perStep = 4 * parameters + (compression == .fp16 ? 2 * parameters : 8 * PayloadCodec.topKCount(of: parameters, fraction: c.cluster.topkFraction))
        // The step being sent, the one before it, and the spares.
        #expect(held.max()! <= Double((2 + 4) * perStep), "held \(held.max()!) bytes; one step's buffers are \(perStep)")
        #expect(held.suffix(10).allSatisfy { $0 == held.last }, "still growing at the end: \(held.suffix(10))")
    }

    @Test func healthFollowsThePhaseAndNoticesAStalledLoop() throws {
        let monitoring = ServerMetrics()
        let server = try ScriptedServer(monitoring: monitoring)
        // The server waits for its 2 workers; its loop turns at least every 250 ms meanwhile.
        let waiting = monitoring.health()
        #expect(waiting.healthy && waiting.text.contains("\"phase\": \"waiting_for_workers\""), "\(waiting.text)")
        let later = monitoring.health(now: Date().addingTimeInterval(ServerMetrics.stallLimit + 5))
        #expect(!later.healthy && later.text.contains("\"stalled\": true"), "a loop silent past the limit is unhealthy: \(later.text)")
        server.stop.request("test")
        #expect(server.finished.wait(timeout: .now() + 5) == .success)
        let stopped = monitoring.health()
        #expect(!stopped.healthy && stopped.text.contains("\"phase\": \"stopped\""), "\(stopped.text)")
    }
}
