import Foundation
import Testing
import Wire
import ZeroMQ

/// A real `pstrain server` process, spoken to through real sockets: refusals say what differs, and malformed
/// frames are counted and dropped without harming the run.
@Suite(.serialized) struct ServerProtocolTests {
    let config = ["--config", "configs/digits-softmax.yaml", "cluster.workers=1", "train.epochs=2"]

    func server(_ dir: String) throws -> (PSTrainProcess.Running, String) {
        let server = try PSTrainProcess.start(["server", "--run-dir", dir] + config, stderrPath: "\(dir).stderr")
        let line = try #require(server.line(startingWith: "listening on "), "the server printed no endpoint")
        return (server, String(line.dropFirst("listening on ".count)))
    }

    @Test func workerWithAnotherConfigIsRefusedWithTheReason() throws {
        let dir = PSTrainProcess.runDirectory()
        let (server, endpoint) = try server(dir)
        defer { server.stop() }
        let refused = try PSTrainProcess.run(["worker", "--connect", endpoint] + config + ["optimizer.lr=0.5"], timeout: 60)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("the server refused this worker: this worker was started with another config than the server"))
    }

    @Test func malformedFramesAreCountedAndTheRunCompletes() throws {
        let dir = PSTrainProcess.runDirectory()
        let (server, endpoint) = try server(dir)
        defer { server.stop() }
        let context = try ZMQContext()
        let attacker = try context.socket(.dealer)
        try attacker.connect(endpoint)
        let good = Header(kind: .pull, jobID: 1, sender: 0).encoded()
        var badMagic = good; badMagic[0] = 0
        var badVersion = good; badVersion[4] = 9
        var badKind = good; badKind[6] = 200
        let hugeCount = Header(kind: .push, jobID: 1, sender: 0, elementType: .float32, count: UInt64.max / 8).encoded()
        let malformed: [[[UInt8]]] = [
            [Array(good.prefix(10))], [badMagic], [badVersion], [badKind], [hugeCount, [1, 2, 3, 4]], [good, [1]], [good],
        ]
        for frames in malformed { try attacker.sendMultipart(frames) }
        // Too big for the transport at all: libzmq drops the connection before the server sees it.
        try attacker.send([UInt8](repeating: 0, count: 300 << 20))
        attacker.close()

        let worker = try PSTrainProcess.run(["worker", "--connect", endpoint] + config, timeout: 120)
        #expect(worker.status == 0, "\(worker.stderr)")
        #expect(server.wait(timeout: 60) == 0, "the server must finish the job")
        let summary = try PSTrainProcess.summary(in: dir)
        #expect((summary["rejected_messages"] as? Int ?? 0) >= 7, "\(summary)")
        #expect((summary["test_accuracy"] as? Double ?? 0) > 0.9)
        let log = try String(contentsOfFile: "\(dir).stderr", encoding: .utf8)
        #expect(log.contains("rejected messages by reason:") && log.contains("bad_magic=1") && log.contains("protocol_version=1"))
    }
}
