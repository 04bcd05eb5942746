import Foundation
import Testing
import TestSupport

/// IPv6 endpoints with the real binary: a server bound to `tcp://[::1]:*` counts as loopback (no keys, no
/// `--insecure`), reports its port in brackets, and its workers, connecting there, train the job to the end.
@Suite struct IPv6Tests {
    @Test(.enabled(if: hostHasIPv6Loopback(), "this host has no ::1"), .timeLimit(.minutes(3)))
    func aJobRunsOverIPv6Loopback() throws {
        let dir = PSTrainProcess.runDirectory()
        let options = ["--config", "configs/digits-softmax.yaml", "cluster.workers=2", "train.epochs=3"]
        let server = try PSTrainProcess.start(["server", "--bind", "tcp://[::1]:*", "--run-dir", dir] + options, stderrPath: "\(dir).stderr")
        defer { server.stop() }
        let listening = try #require(server.line(startingWith: "listening on "), "the server ended: \(PSTrainProcess.log("\(dir).stderr"))")
        let endpoint = String(listening.dropFirst("listening on ".count))
        #expect(endpoint.hasPrefix("tcp://[::1]:") && !endpoint.hasSuffix(":*"), "\(endpoint)")
        let workers = try (0 ..< 2).map { rank in
            try PSTrainProcess.start(["worker", "--connect", endpoint, "--rank", "\(rank)"] + options, stderrPath: "\(dir).worker\(rank)")
        }
        defer { workers.forEach { $0.stop() } }

        #expect(server.wait(timeout: 120) == 0, "\(PSTrainProcess.log("\(dir).stderr"))")
        for (rank, worker) in workers.enumerated() {
            #expect(worker.wait(timeout: 30) == 0, "\(PSTrainProcess.log("\(dir).worker\(rank)"))")
        }
        let summary = try PSTrainProcess.summary(in: dir)
        #expect(summary["status"] as? String == "completed")
        #expect(summary["steps"] as? Int ?? 0 > 0)
        let log = PSTrainProcess.log("\(dir).stderr")
        #expect(!log.contains("WARNING") && !log.contains("serving interface"), "::1 is loopback: \(log)")
    }
}
