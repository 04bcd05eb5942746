import Config
import Roles
import Testing
import Transport
import Wire

/// An async server reads a whole float32 gradient where it arrived, and steps from it there when clipping and the
/// optimizer leave it as it is; otherwise it steps from a copy. Either way the worker's frame is never changed, and
/// the step is the one plain SGD at learning rate 0.5 takes. (The in-memory network hands the server the very frame
/// the worker sent, so a change would show.)
@Suite struct GradientInPlaceTests {
    func server(_ adjust: @escaping (inout RunConfig) -> Void = { _ in }) throws -> (ScriptedServer, ScriptedWorker) {
        let server = try ScriptedServer { c in
            c.cluster.workers = 1
            c.cluster.mode = .async
            c.optimizer.kind = .sgd
            c.optimizer.lr = 0.5
            adjust(&c)
        }
        return (server, try ScriptedWorker(server, rank: 0))
    }

    /// One step from a push of ones: the weights before and after, and whether the frame sent still holds only ones.
    func stepFromOnes(_ adjust: @escaping (inout RunConfig) -> Void = { _ in }) throws -> (before: [Float], after: [Float], frameUnchanged: Bool) {
        var (_, worker) = try server(adjust)
        let before = worker.weights
        let sent = try worker.sendPush(gradient: 1)
        #expect(try worker.awaitWeights()?.version == 1)
        return (before, worker.weights, sent.withFloats { $0.allSatisfy { $0 == 1 } })
    }

    @Test func aGradientNoStepChangesIsAppliedWhereItArrived() throws {
        let (before, after, frameUnchanged) = try stepFromOnes()
        #expect(after == before.map { $0 - 0.5 })
        #expect(frameUnchanged)
    }

    @Test func aGradientClippingWouldChangeIsCopiedFirst() throws {
        let (before, after, frameUnchanged) = try stepFromOnes { $0.optimizer.clipNorm = 1 }
        let scaled = Float(1 / Double(before.count).squareRoot())
        #expect(after == before.map { $0 - 0.5 * scaled }, "the gradient of ones scaled to norm 1")
        #expect(frameUnchanged, "clipped in the server's copy, not in the worker's frame")
    }

    @Test func aGradientUnderTheClipNormIsAppliedWhereItArrived() throws {
        let (before, after, frameUnchanged) = try stepFromOnes { $0.optimizer.clipNorm = 1e6 }
        #expect(after == before.map { $0 - 0.5 })
        #expect(frameUnchanged)
    }

    @Test func clippingByValueWorksOnACopy() throws {
        let (before, after, frameUnchanged) = try stepFromOnes { $0.optimizer.clipValue = 0.25 }
        #expect(after == before.map { $0 - 0.5 * 0.25 })
        #expect(frameUnchanged)
    }

    @Test func penaltiesAreAddedToACopy() throws {
        let (before, after, frameUnchanged) = try stepFromOnes { $0.optimizer.l2 = 0.5 }
        #expect(after == before.map { w in w - 0.5 * (1 + 0.5 * w) })
        #expect(frameUnchanged)
    }

    @Test func aGradientWithNaNIsNeverApplied() throws {
        var (server, worker) = try server()
        let before = worker.weights
        try worker.sendPush(gradient: .nan)
        #expect(try worker.awaitWeights()?.version == 0, "answered with the weights as they were")
        #expect(worker.weights == before)
        #expect(server.logLines.waitFor("gradient with NaN or infinity from worker 0", timeout: 1))
    }
}
