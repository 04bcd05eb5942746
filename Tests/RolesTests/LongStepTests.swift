import Config
import Foundation
import Roles
import Testing

/// A worker's step may take longer than the heartbeat timeout (a large model or batch): it goes on sending
/// heartbeats while it computes, so the server does not take a busy worker for a lost one.
@Suite struct LongStepTests {
    @Test func stepsLongerThanTheHeartbeatTimeoutLoseNoWorker() throws {
        var c = RunConfig()
        c.data.format = .synthetic
        c.data.generator = .blobs
        c.data.features = 784
        c.data.classes = 10
        c.data.samples = 8192
        c.data.testSamples = 0
        c.model.kind = .mlp
        c.model.hidden = [1024, 1024]
        c.train.batchSize = 2048
        c.train.epochs = 1
        c.cluster.workers = 2
        c.cluster.mode = .sync
        c.cluster.heartbeatInterval = 0.05
        c.cluster.heartbeatTimeout = 0.2
        let outcome = try InProcessCluster.run(c)
        let secondsPerStep = outcome.summary.trainSeconds / Double(outcome.summary.steps)
        try #require(secondsPerStep > c.cluster.heartbeatTimeout,
                     "a step took \(secondsPerStep) s: shorter than the heartbeat timeout, it tests nothing")
        #expect(outcome.summary.lostWorkers == nil, "workers declared lost while computing: \(outcome.summary.lostWorkers ?? [])")
        #expect(outcome.summary.steps == 2)
    }
}
