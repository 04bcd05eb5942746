import Foundation
import Roles
import Testing

/// Checkpoints of `pstrain train`: exact resumption, atomic writes under SIGKILL, and clear refusals.
@Suite(.serialized) struct CheckpointTests {
    let args = ["train", "--config", "configs/digits-mlp.yaml", "train.epochs=4"]

    /// SIGTERM stops a waiting server cleanly with a checkpoint, whichever thread the kernel hands it to: OpenBLAS's
    /// pool, started before `main`, does not block it, and it used to end the process outright. Three times, as the
    /// kernel's choice of thread varies.
    @Test func sigtermStopsAServerWithACheckpoint() throws {
        for _ in 0 ..< 3 {
            let dir = PSTrainProcess.runDirectory()
            let server = try PSTrainProcess.start(["server", "--config", "configs/digits-mlp.yaml", "--run-dir", dir, "cluster.workers=1"],
                                                  stderrPath: "\(dir).stderr")
            defer { server.stop() }
            #expect(server.line(startingWith: "listening on ") != nil)
            // config.yaml is written as the server starts serving, with its stop handler in place.
            #expect(PSTrainProcess.waitFor(timeout: 60) { FileManager.default.fileExists(atPath: "\(dir)/config.yaml") })
            kill(server.process.processIdentifier, SIGTERM)
            #expect(server.wait(timeout: 30) == 0, "\(PSTrainProcess.log("\(dir).stderr"))")
            #expect(PSTrainProcess.log("\(dir).stderr").contains("signal 15; checkpoint written at step 0"))
        }
    }

    /// A server started by a launcher stops as on SIGTERM, with its checkpoint, when its input ends: how
    /// `pstrain launch` asks its roles to stop, the one sign that reaches a role on another host through ssh while
    /// its connection stays up to bring back its last lines.
    @Test func aLaunchedServerStopsAtTheEndOfItsInput() throws {
        let dir = PSTrainProcess.runDirectory()
        let input = try PSTrainProcess.pipeClosedOnExec()
        let server = try PSTrainProcess.start(["server", "--config", "configs/digits-mlp.yaml", "--run-dir", dir, "cluster.workers=1"],
                                              stderrPath: "\(dir).stderr", environment: ["PSTRAIN_LAUNCHER_PID": "\(getpid())"], input: input.read)
        defer { server.stop() }
        try input.read.close() // the server holds its own
        #expect(server.line(startingWith: "listening on ") != nil)
        #expect(PSTrainProcess.waitFor(timeout: 60) { FileManager.default.fileExists(atPath: "\(dir)/config.yaml") })
        try input.write.close()
        #expect(server.wait(timeout: 30) == ChildExitStatus.stoppedBeforeDone, "\(PSTrainProcess.log("\(dir).stderr"))")
        #expect(PSTrainProcess.log("\(dir).stderr").contains("signal 15; checkpoint written at step 0"))
    }

    /// --resume-if-exists decides between starting and resuming by what is in --run-dir: without one it means
    /// nothing, and beside --resume it would contradict it.
    @Test func resumeIfExistsGoesWithARunDirectoryOnly() throws {
        let alone = try PSTrainProcess.run(["server", "--resume-if-exists", "--config", "configs/digits-mlp.yaml"], timeout: 30)
        #expect(alone.status != 0 && alone.stderr.contains("--resume-if-exists needs --run-dir"), "\(alone.stderr)")
        let withResume = try PSTrainProcess.run(["server", "--resume-if-exists", "--resume", PSTrainProcess.runDirectory()], timeout: 30)
        #expect(withResume.status != 0 && withResume.stderr.contains("--resume-if-exists goes with --run-dir, not --resume"), "\(withResume.stderr)")
    }

    /// Restarted with a changed config, a server continues its run as it was (workers of another config would
    /// be refused) and says so.
    @Test func resumeIfExistsKeepsTheRunsOwnConfigAndSaysWhenTheGivenOneDiffers() throws {
        let dir = PSTrainProcess.runDirectory()
        let command = ["server", "--config", "configs/digits-mlp.yaml", "--run-dir", dir, "--resume-if-exists", "cluster.workers=1"]
        let first = try PSTrainProcess.start(command, stderrPath: "\(dir).first")
        defer { first.stop() }
        #expect(PSTrainProcess.waitFor(timeout: 60) { FileManager.default.fileExists(atPath: "\(dir)/config.yaml") })
        kill(first.process.processIdentifier, SIGTERM)
        #expect(first.wait(timeout: 30) == 0, "\(PSTrainProcess.log("\(dir).first"))")
        let again = try PSTrainProcess.start(command + ["train.epochs=99"], stderrPath: "\(dir).again")
        defer { again.stop() }
        #expect(again.line(startingWith: "listening on ") != nil, "\(PSTrainProcess.log("\(dir).again"))")
        let log = PSTrainProcess.log("\(dir).again")
        #expect(log.contains("holds a run of another config than the one given; continuing it with its own config.yaml"), "\(log)")
        #expect(try String(contentsOfFile: "\(dir)/config.yaml", encoding: .utf8).contains("epochs: 99") == false)
    }

    /// An engine restarts a server after its job ended, too: it says so and ends at once instead of waiting for workers.
    @Test func resumeIfExistsEndsAtOnceWhenTheJobCompletedThere() throws {
        let dir = PSTrainProcess.runDirectory()
        let finished = try PSTrainProcess.run(["launch", "--config", "configs/digits-softmax.yaml", "--workers", "1", "--run-dir", dir,
                                               "train.epochs=1"])
        #expect(finished.status == 0, "\(finished.stderr)")
        let before = try String(contentsOfFile: "\(dir)/summary.json", encoding: .utf8)
        let again = try PSTrainProcess.run(["server", "--config", "configs/digits-softmax.yaml", "--run-dir", dir, "--resume-if-exists",
                                            "cluster.workers=1", "train.epochs=1", "cluster.replacement_timeout=600"], timeout: 60)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("the job in \(dir) completed at step "), "\(again.stderr)")
        #expect(again.stdout.contains("summary: \(dir)/summary.json"), "\(again.stdout)")
        #expect(try String(contentsOfFile: "\(dir)/summary.json", encoding: .utf8) == before, "the summary stays as the job left it")
    }

    @Test func sigtermThenResumeEqualsAnUninterruptedRun() throws {
        let straight = PSTrainProcess.runDirectory()
        #expect(try PSTrainProcess.run(args + ["--run-dir", straight, "--quiet"]).status == 0)

        let dir = PSTrainProcess.runDirectory()
        let run = try PSTrainProcess.start(args + ["--run-dir", dir], stderrPath: "\(dir).stderr")
        // Stop it once it is past its first epoch (bounded wait on its progress).
        let deadline = Date().addingTimeInterval(60)
        while run.process.isRunning && Date() < deadline
            && !((try? String(contentsOfFile: "\(dir).stderr", encoding: .utf8)) ?? "").contains("epoch 1/4") { usleep(20_000) }
        kill(run.process.processIdentifier, SIGTERM)
        #expect(run.wait(timeout: 30) == 0, "SIGTERM ends a run with status 0 after its checkpoint")
        let interrupted = try PSTrainProcess.summary(in: dir)
        #expect(interrupted["status"] as? String == "interrupted")

        let resumed = try PSTrainProcess.run(["train", "--resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = try PSTrainProcess.summary(in: dir), b = try PSTrainProcess.summary(in: straight)
        #expect(a["status"] as? String == "completed")
        for key in ["train_loss", "test_loss", "test_accuracy", "steps", "samples"] {
            #expect(a[key] as? Double == b[key] as? Double, "\(key): resumed \(a[key] ?? "-"), uninterrupted \(b[key] ?? "-")")
        }
        let rows = { (d: String) in try String(contentsOfFile: "\(d)/metrics.csv", encoding: .utf8).split(separator: "\n").count }
        #expect(try rows(dir) == rows(straight), "metrics.csv continues where it stopped")
    }

    @Test func keepsTheLastCheckpointsAndPointsLatestAtTheNewest() throws {
        let dir = PSTrainProcess.runDirectory()
        #expect(try PSTrainProcess.run(args + ["--run-dir", dir, "--quiet", "train.checkpoint_every=25", "train.keep_checkpoints=2"]).status == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/checkpoints").sorted()
        #expect(files == ["latest", "step-000000175.safetensors", "step-000000180.safetensors"])
        #expect(try String(contentsOfFile: "\(dir)/checkpoints/latest", encoding: .utf8) == "step-000000180.safetensors\n")
        #expect(!files.contains { $0.hasSuffix(".tmp") })
    }

    /// SIGKILL at arbitrary moments while checkpoints are written every step: the latest always loads.
    @Test func killedWhileWritingTheLatestCheckpointAlwaysLoads() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0 ..< 20 {
            let dir = PSTrainProcess.runDirectory()
            let run = try PSTrainProcess.start(["train", "--config", "configs/digits-softmax.yaml", "--run-dir", dir,
                                                "train.checkpoint_every=1", "train.epochs=20"], stderrPath: "\(dir).stderr")
            let deadline = Date().addingTimeInterval(30)
            while run.process.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: "\(dir)/checkpoints/latest") { usleep(5_000) }
            // Fault injection, not synchronisation: kill after a random extra moment of checkpoint writing.
            usleep(UInt32.random(in: 0 ... 200_000, using: &rng))
            kill(run.process.processIdentifier, SIGKILL)
            _ = run.wait(timeout: 10)
            let resumed = try PSTrainProcess.run(["train", "--resume", dir, "--quiet", ], timeout: 120)
            #expect(resumed.status == 0, "trial \(trial): the latest checkpoint did not load: \(resumed.stderr)")
        }
    }

    @Test func resumeRefusesAChangedConfigAndAnEmptyRun() throws {
        let changed = try PSTrainProcess.run(["train", "--resume", "/tmp", "--config", "configs/digits-mlp.yaml"])
        #expect(changed.status != 0 && changed.stderr.contains("--resume continues a run with its own config.yaml"))
        let notARun = try PSTrainProcess.run(["train", "--resume", "/tmp"])
        #expect(notARun.status != 0 && notARun.stderr.contains("is not a run directory (no config.yaml)"))
    }
}
