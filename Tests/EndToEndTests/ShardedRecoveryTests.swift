import Foundation
import Testing

/// A sharded job survives its servers: shard 0 writes the whole model as the job's checkpoint, and a shard 0 that
/// resumes from it hands every other shard its slice. Sync runs are deterministic, so a job that recovers ends
/// exactly as an undisturbed one, bit for bit. Every run is bounded in time and every process is killed at the end.
@Suite(.serialized) struct ShardedRecoveryTests {
    /// Two shards, 4 workers of per-worker batch 8: 45 sync steps an epoch, 900 in all, a checkpoint every 50.
    let job = ["--config", "configs/digits-mlp.yaml", "--workers", "4", "--servers", "2", "train.batch_size=8", "train.epochs=20",
               "train.checkpoint_every=50", "train.log_every=1"]

    /// The undisturbed job's summary.
    func cleanSummary() throws -> [String: Any] {
        let dir = PSTrainProcess.runDirectory()
        let result = try PSTrainProcess.run(["launch", "--run-dir", dir] + job, timeout: 300)
        #expect(result.status == 0, "the clean run failed: \(result.stderr)")
        return try PSTrainProcess.summary(in: dir)
    }

    /// Starts the job in `dir` and returns once step 300 is logged.
    func launchUntilStep300(_ dir: String) throws -> PSTrainProcess.Running {
        let launch = try PSTrainProcess.start(["launch", "--run-dir", dir] + job, stderrPath: "\(dir).stderr")
        #expect(FailureTests.waitForStep(300, in: dir) { launch.process.isRunning }, "the run never reached step 300: \(PSTrainProcess.log("\(dir).stderr"))")
        return launch
    }

    /// The job ended as the clean one did (shard 1 logging to `shard1Log`); returns the step it resumed from.
    func expectRecovered(_ dir: String, like clean: [String: Any], shard1Log: String? = nil) throws -> Int {
        let summary = try PSTrainProcess.summary(in: dir)
        let resumedFrom = try #require(summary["resumed_from_step"] as? Int, "\(summary)")
        #expect(summary["steps"] as? Int == 900 && summary["servers"] as? Int == 2)
        for key in ["train_loss", "test_loss", "test_accuracy"] {
            #expect(summary[key] as? Double == clean[key] as? Double,
                    "\(key): \(String(describing: summary[key])) recovered, \(String(describing: clean[key])) clean")
        }
        let shard1 = PSTrainProcess.log(shard1Log ?? "\(dir)/server-1.log")
        #expect(shard1.contains("shard 0 resumed the job at step \(resumedFrom)"), "\(shard1)")
        return resumedFrom
    }

    /// Kills server shard `shard` with SIGKILL past step 300; `launch` must say `expecting` and end the job as the
    /// clean one, from a periodic checkpoint no later than the kill.
    func killShardAndRecover(_ shard: Int, expecting message: String, like clean: [String: Any]) throws {
        let dir = PSTrainProcess.runDirectory()
        let launch = try launchUntilStep300(dir)
        let ofRun = Set(try PSTrainProcess.processes(mentioning: "\(dir)/launch.yaml"))
        let pid = try #require(try PSTrainProcess.processes(mentioning: "--shard \(shard) ").first(where: ofRun.contains), "shard \(shard) is not running")
        kill(pid, SIGKILL)
        let killedAt = FailureTests.loggedStep(dir)
        #expect(launch.wait(timeout: 300) == 0, "launch failed: \(PSTrainProcess.log("\(dir).stderr"))")
        #expect(PSTrainProcess.log("\(dir).stderr").contains(message))
        let resumedFrom = try expectRecovered(dir, like: clean)
        #expect(resumedFrom > 0 && resumedFrom % 50 == 0 && resumedFrom <= killedAt && killedAt - resumedFrom < 100,
                "shard \(shard) killed at step \(killedAt), resumed from the periodic checkpoint of step \(resumedFrom)")
    }

    /// The job without `launch`, as an engine (a StatefulSet, a TFJob) runs it: every process started by hand, and
    /// started again with the same command. Shard 1 killed outright comes back empty at its address; shard 0 notices,
    /// stops with status 5 and no checkpoint, and started again with --resume-if-exists takes both shards back to
    /// its latest checkpoint. The workers wait for that, and the job ends as the clean one.
    func engineRestartsAKilledShard(like clean: [String: Any]) throws {
        let dir = PSTrainProcess.runDirectory()
        let config = ["--config", "configs/digits-mlp.yaml", "cluster.workers=4", "cluster.servers=2", "train.batch_size=8", "train.epochs=20",
                      "train.checkpoint_every=50", "train.log_every=1"]
        func serve(_ arguments: [String], log: String) throws -> (server: PSTrainProcess.Running, endpoint: String) {
            let server = try PSTrainProcess.start(["server"] + config + arguments, stderrPath: log)
            let line = try #require(server.line(startingWith: "listening on "), "\(PSTrainProcess.log(log))")
            return (server, String(line.dropFirst("listening on ".count)))
        }
        let shard1 = try serve(["--shard", "1"], log: "\(dir).shard1")
        let shardZeroCommand = ["--shard", "0", "--other-shards", shard1.endpoint, "--run-dir", dir, "--resume-if-exists"]
        let shard0 = try serve(shardZeroCommand, log: "\(dir).shard0")
        let workers = try (0 ..< 4).map { rank in
            try PSTrainProcess.start(["worker"] + config + ["--connect", "\(shard0.endpoint),\(shard1.endpoint)", "--rank", "\(rank)"],
                                     stderrPath: "\(dir).worker\(rank)")
        }
        #expect(FailureTests.waitForStep(300, in: dir) { shard0.server.process.isRunning }, "\(PSTrainProcess.log("\(dir).shard0"))")
        shard1.server.stop()
        let killedAt = FailureTests.loggedStep(dir)
        let shard1Again = try serve(["--shard", "1", "--bind", shard1.endpoint], log: "\(dir).shard1-again")
        #expect(shard1Again.endpoint == shard1.endpoint)

        #expect(shard0.server.wait(timeout: 60) == 5, "shard 0 went on: \(PSTrainProcess.log("\(dir).shard0").suffix(3000))")
        let stopped = PSTrainProcess.log("\(dir).shard0")
        #expect(stopped.contains("server shard 1 is back at step 0 while shard 0 is at step")
                    && stopped.contains("this command does that: it has --resume-if-exists"), "\(stopped.suffix(3000))")
        #expect(workers.allSatisfy { $0.process.isRunning }, "a worker gave up while shard 0 was away")
        let shard0Again = try serve(shardZeroCommand, log: "\(dir).shard0-again")
        #expect(shard0Again.endpoint == shard0.endpoint, "shard 0 must resume at the address the workers know")

        for (rank, worker) in workers.enumerated() {
            #expect(worker.wait(timeout: 300) == 0, "worker \(rank): \(PSTrainProcess.log("\(dir).worker\(rank)").suffix(2000))")
        }
        #expect(shard0Again.server.wait(timeout: 60) == 0, "\(PSTrainProcess.log("\(dir).shard0-again").suffix(3000))")
        let resumedFrom = try expectRecovered(dir, like: clean, shard1Log: "\(dir).shard1-again")
        #expect(resumedFrom > 0 && resumedFrom % 50 == 0 && resumedFrom <= killedAt,
                "shard 1 killed at step \(killedAt), the job resumed from the checkpoint of step \(resumedFrom)")
    }

    @Test func aShardedJobRecoversFromItsCheckpointsExactly() throws {
        let clean = try cleanSummary()

        // Shard 0 killed outright: `launch` restarts it from the checkpoint, and it takes shard 1, which kept running
        // with its workers, back to that step.
        try killShardAndRecover(0, expecting: "server failed with status 9; restarting it", like: clean)
        // Shard 1 killed outright comes back empty: `launch` starts it again at its endpoint and shard 0 from the
        // checkpoint, which takes shard 1 back to that step.
        try killShardAndRecover(1, expecting: "server shard 1 failed with status 9; restarting it at its endpoint", like: clean)
        try engineRestartsAKilledShard(like: clean)

        // The whole job stopped with SIGTERM: shard 0 collects shard 1's part and writes a checkpoint of the step it
        // stopped at. `launch --resume` continues from there.
        let stopped = PSTrainProcess.runDirectory()
        let launch = try launchUntilStep300(stopped)
        kill(launch.process.processIdentifier, SIGTERM)
        let status = launch.wait(timeout: 60)
        #expect(status != nil && status != 0, "launch must exit, non-zero, after SIGTERM")
        #expect(PSTrainProcess.log("\(stopped).stderr").contains("stopped (signal 15)"))
        let serverLog = PSTrainProcess.log("\(stopped)/server.log")
        let written = try #require(serverLog.firstMatch(of: /checkpoint written at step (\d+)/), "no checkpoint as the job stopped: \(serverLog.suffix(2000))")
        let stoppedAt = try #require(Int(written.1))
        #expect(stoppedAt >= 300)
        let resumed = try PSTrainProcess.run(["launch", "--resume", stopped], timeout: 300)
        #expect(resumed.status == 0, "launch --resume failed: \(resumed.stderr)")
        #expect(try expectRecovered(stopped, like: clean) == stoppedAt, "resumed from another step than the one it stopped at")
    }
}
