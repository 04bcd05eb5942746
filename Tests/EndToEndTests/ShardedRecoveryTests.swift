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

    /// The job ended as the clean one did; returns the step it resumed from.
    func expectRecovered(_ dir: String, like clean: [String: Any]) throws -> Int {
        let summary = try PSTrainProcess.summary(in: dir)
        let resumedFrom = try #require(summary["resumed_from_step"] as? Int, "\(summary)")
        #expect(summary["steps"] as? Int == 900 && summary["servers"] as? Int == 2)
        for key in ["train_loss", "test_loss", "test_accuracy"] {
            #expect(summary[key] as? Double == clean[key] as? Double,
                    "\(key): \(String(describing: summary[key])) recovered, \(String(describing: clean[key])) clean")
        }
        let shard1 = PSTrainProcess.log("\(dir)/server-1.log")
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

    @Test func aShardedJobRecoversFromItsCheckpointsExactly() throws {
        let clean = try cleanSummary()

        // Shard 0 killed outright: `launch` restarts it from the checkpoint, and it takes shard 1, which kept running
        // with its workers, back to that step.
        try killShardAndRecover(0, expecting: "server failed with status 9; restarting it", like: clean)
        // Shard 1 killed outright comes back empty: `launch` starts it again at its endpoint and shard 0 from the
        // checkpoint, which takes shard 1 back to that step.
        try killShardAndRecover(1, expecting: "server shard 1 failed with status 9; restarting it at its endpoint", like: clean)

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
