import Config
import Foundation
import Roles
import Testing
import Wire

/// `cluster.nan_policy`: two sync workers, worker 0 pushing a gradient of ones and worker 1 a NaN gradient,
/// with plain SGD at learning rate 0.5, so each policy's effect on the weights is exact.
@Suite struct NaNPolicyTests {
    /// Worker 1 pushes `bad` (first, or after worker 0's ones). The server reads each gradient where it arrived and
    /// looks for the bad one only once the step's sum is not finite, so the order must not matter.
    func workers(_ policy: NaNPolicy, bad: Float = .nan, badFirst: Bool = false) throws -> (ScriptedServer, ScriptedWorker, ScriptedWorker) {
        let server = try ScriptedServer { c in
            c.cluster.nanPolicy = policy
            c.optimizer.kind = .sgd
            c.optimizer.lr = 0.5
        }
        let w0 = try ScriptedWorker(server, rank: 0), w1 = try ScriptedWorker(server, rank: 1)
        if badFirst { try w1.sendPush(gradient: bad) }
        try w0.sendPush(gradient: 1)
        if !badFirst { try w1.sendPush(gradient: bad) }
        return (server, w0, w1)
    }

    @Test func rejectDropsTheGradientAndAppliesTheOthers() throws {
        var (server, w0, w1) = try workers(.reject)
        let before = w0.weights
        #expect(try w0.awaitWeights()?.version == 1)
        #expect(try w1.awaitWeights()?.version == 1)
        #expect(w0.weights == before.map { $0 - 0.5 }, "only worker 0's gradient of ones is applied")
        #expect(w1.weights == w0.weights)
        #expect(server.logLines.waitFor("gradient with NaN or infinity from worker 1", timeout: 1))
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity], [false, true])
    func rejectFindsTheBadGradientInEitherOrder(bad: Float, badFirst: Bool) throws {
        var (server, w0, w1) = try workers(.reject, bad: bad, badFirst: badFirst)
        let before = w0.weights
        #expect(try w0.awaitWeights()?.version == 1)
        #expect(try w1.awaitWeights()?.version == 1)
        #expect(w0.weights == before.map { $0 - 0.5 }, "only worker 0's gradient of ones is applied")
        #expect(server.logLines.waitFor("gradient with NaN or infinity from worker 1", timeout: 1))
        // The next step, both gradients finite, is applied whole: the rejected worker is back in the sum.
        try w0.sendPush(gradient: 1)
        try w1.sendPush(gradient: 3)
        #expect(try w0.awaitWeights()?.version == 2)
        #expect(w0.weights == before.map { $0 - 0.5 - 0.5 * 2 }, "the mean of 1 and 3, at learning rate 0.5")
    }

    @Test func skipStepAppliesNothingForTheStep() throws {
        var (_, w0, _) = try workers(.skipStep)
        let before = w0.weights
        #expect(try w0.awaitWeights()?.version == 1, "the step is taken")
        #expect(w0.weights == before, "but nothing is applied")
    }

    @Test func failEndsTheJobAndSaysWhy() throws {
        var (server, w0, _) = try workers(.fail)
        #expect(try w0.awaitWeights()?.kind == .shutdown, "the workers are told the job is over")
        #expect(server.finished.wait(timeout: .now() + 5) == .success)
        let failure = try #require(server.failure.value as? ServerFailure)
        #expect(failure.message == "worker 1 sent a gradient with NaN or infinity at step 0 (cluster.nan_policy: fail)")
    }
}
