import Foundation
import Testing

/// Real processes killed with SIGKILL in the middle of a sync run on the digits split: a lost worker, a
/// restarted worker, and a server restarted from its checkpoint. Every run is bounded in time and every
/// process it starts is killed when the test ends.
@Suite(.serialized) struct FailureTests {
    /// Per-worker batch 8: 4 workers, 45 sync steps an epoch, 1,800 steps in all.
    let mlp = ["--config", "configs/digits-mlp.yaml", "train.batch_size=8"]

    /// The highest step in the run's metrics.jsonl (0 before the first row).
    static func loggedStep(_ dir: String) -> Int {
        let text = (try? String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["step"] as? Int
        }.max() ?? 0
    }

    /// Waits, polling the run's files, until `step` is logged; false if `alive` turns false or 120 s pass.
    static func waitForStep(_ step: Int, in dir: String, while alive: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(120)
        while loggedStep(dir) < step {
            guard alive(), Date() < deadline else { return false }
            usleep(20_000)
        }
        return true
    }

    /// The pid of the worker of `rank` started by the launch writing `dir`.
    static func workerProcess(rank: Int, of dir: String) throws -> Int32 {
        let ofRun = Set(try PSTrainProcess.processes(mentioning: "\(dir)/launch.yaml"))
        let ofRank = try PSTrainProcess.processes(mentioning: "--rank \(rank)").filter(ofRun.contains)
        return try #require(ofRank.first, "worker \(rank) of \(dir) is not running")
    }

    static func accuracy(_ dir: String) throws -> Double {
        try #require(try PSTrainProcess.summary(in: dir)["test_accuracy"] as? Double)
    }

    /// The same job, undisturbed.
    func cleanLaunch() throws -> String {
        let dir = PSTrainProcess.runDirectory()
        let result = try PSTrainProcess.run(["launch", "--workers", "4", "--run-dir", dir] + mlp, timeout: 300)
        #expect(result.status == 0, "the clean run failed: \(result.stderr)")
        return dir
    }

    /// Starts `pstrain launch` of the job with `workers` workers and `overrides`, its standard error in
    /// `<run>.stderr`, and waits until `step` is logged; returns the run directory and the launch (for the caller to stop).
    func launch(workers: Int, _ overrides: [String], reaching step: Int) throws -> (String, PSTrainProcess.Running) {
        let dir = PSTrainProcess.runDirectory()
        let launch = try PSTrainProcess.start(["launch", "--workers", "\(workers)", "--run-dir", dir] + mlp + overrides, stderrPath: "\(dir).stderr")
        #expect(Self.waitForStep(step, in: dir) { launch.process.isRunning }, "the run never reached step \(step)")
        return (dir, launch)
    }

    /// Launches the job, kills worker 2 with SIGKILL once `killAt` steps are logged, and returns the run
    /// directory after the launch has ended with status 0.
    func launchAndKillWorker2(at killAt: Int, _ overrides: [String]) throws -> String {
        let (dir, launch) = try launch(workers: 4, overrides, reaching: killAt)
        defer { launch.stop() }
        kill(try Self.workerProcess(rank: 2, of: dir), SIGKILL)
        let status = launch.wait(timeout: 300)
        let stderr = (try? String(contentsOfFile: "\(dir).stderr", encoding: .utf8)) ?? ""
        #expect(status == 0, "launch failed: \(stderr)")
        return dir
    }

    /// The server's "worker 2 lost: silent for X s" line: lost once the timeout (3 s) has passed, and soon after.
    static func expectLostInTime(_ dir: String) throws {
        let log = try String(contentsOfFile: "\(dir)/server.log", encoding: .utf8)
        let line = try #require(log.split(separator: "\n").first { $0.contains("worker 2 lost: silent for") }, "no loss reported")
        let silence = try #require(Double(line.split(separator: " ")[5]))
        #expect(silence >= 3 && silence < 4.5, "\(line)") // the timeout, plus the 0.25 s check period and a loaded machine's delays
    }

    @Test func aKilledWorkerIsLostAndTheOthersFinishTheJob() throws {
        let clean = try Self.accuracy(try cleanLaunch())
        let dir = try launchAndKillWorker2(at: 1200, ["cluster.max_restarts=0"])
        try Self.expectLostInTime(dir)
        let summary = try PSTrainProcess.summary(in: dir)
        let lost = try #require(summary["lost_workers"] as? [[String: Any]])
        #expect(lost.count == 1 && lost[0]["rank"] as? Int == 2 && lost[0]["rejoined_at_step"] == nil)
        let skipped = try #require(lost[0]["skipped_steps"] as? Int)
        #expect(skipped > 0 && skipped <= 600, "worker 2 was killed after step 1200 of 1800: \(skipped) skipped")
        #expect(summary["steps"] as? Int == 1800)
        let accuracy = try Self.accuracy(dir)
        #expect(accuracy >= clean - 0.01, "clean \(clean), with a lost worker \(accuracy)")
    }

    /// With cluster.on_worker_failure: continue the server goes on without a worker that failed for good, but it
    /// cannot go on without any: the launch ends as its last worker fails, with a checkpoint and the command that
    /// resumes, instead of the server waiting cluster.replacement_timeout (60 s) for a worker only the launcher
    /// could start, then failing the job.
    @Test func theLastWorkerFailingForGoodEndsTheLaunch() throws {
        let (dir, launch) = try launch(workers: 1, ["cluster.max_restarts=0"], reaching: 40)
        defer { launch.stop() }
        kill(try Self.workerProcess(rank: 0, of: dir), SIGKILL)
        let status = launch.wait(timeout: 120)
        let stderr = (try? String(contentsOfFile: "\(dir).stderr", encoding: .utf8)) ?? ""
        #expect(status != nil && status != 0, "the launch did not end with a failure: \(stderr)")
        #expect(stderr.contains("worker 0 failed with status 9; it was the last worker left, and the server cannot go on without any "
                                + "(cluster.on_worker_failure: continue); stopped the server. pstrain launch --resume \(dir) continues the run"), "\(stderr)")
    }

    @Test func aRestartedWorkerRejoinsWithItsRank() throws {
        let clean = try Self.accuracy(try cleanLaunch())
        let dir = try launchAndKillWorker2(at: 400, ["cluster.max_restarts=1"])
        try Self.expectLostInTime(dir)
        let launchLog = (try? String(contentsOfFile: "\(dir).stderr", encoding: .utf8)) ?? ""
        #expect(launchLog.contains("worker 2 failed with status 9; restarting it (1 of 1)"), "\(launchLog)")
        let lost = try #require(try PSTrainProcess.summary(in: dir)["lost_workers"] as? [[String: Any]])
        let rejoined = try #require(lost.first?["rejoined_at_step"] as? Int, "\(lost)")
        #expect(rejoined >= 400 && rejoined < 1800)
        let workerLog = try String(contentsOfFile: "\(dir)/worker-2.log", encoding: .utf8)
        #expect(workerLog.contains("starting at step \(rejoined)"), "the new worker 2 starts where the others are")
        let accuracy = try Self.accuracy(dir)
        #expect(accuracy >= clean - 0.01, "clean \(clean), with a restarted worker \(accuracy)")
    }

    /// A worker that stops (SIGSTOP: it neither heartbeats nor exits) is lost, the others finish the job, and the
    /// launch ends then too, stopping the worker it would otherwise wait for forever.
    @Test func aStoppedWorkerIsLostAndTheLaunchEndsWithTheJob() throws {
        let (dir, launch) = try launch(workers: 4, ["cluster.max_restarts=0"], reaching: 1200)
        defer { launch.stop() }
        let stopped = try Self.workerProcess(rank: 2, of: dir)
        defer { kill(stopped, SIGKILL) }
        kill(stopped, SIGSTOP)
        let status = launch.wait(timeout: 300)
        let stderr = PSTrainProcess.log("\(dir).stderr")
        #expect(status == 0, "launch did not end with the job: \(stderr)")
        try Self.expectLostInTime(dir)
        #expect(try PSTrainProcess.summary(in: dir)["steps"] as? Int == 1800)
        #expect(stderr.contains("worker 2 was still running 10 s after the job ended (the server went on without it); stopped it"), "\(stderr)")
        #expect(try PSTrainProcess.processes(mentioning: "\(dir)/launch.yaml").isEmpty, "processes left behind")
    }

    /// SIGTERM sent to the server alone, not to the launch: the server checkpoints and stops, and so does the launch,
    /// at once and saying how to continue; `launch --resume` then finishes the job.
    @Test func aServerStoppedAloneEndsTheLaunchWithTheCommandThatContinuesIt() throws {
        let (dir, launch) = try launch(workers: 4, [], reaching: 400)
        defer { launch.stop() }
        let server = try #require(try PSTrainProcess.processes(mentioning: "server --config \(dir)/launch.yaml").first, "no server running")
        kill(server, SIGTERM)
        let status = launch.wait(timeout: 120)
        let stderr = PSTrainProcess.log("\(dir).stderr")
        #expect(status == 1, "\(stderr)")
        #expect(stderr.contains("server was stopped before the job was done, by a signal sent to it rather than to pstrain launch; "
                                + "stopped the others. pstrain launch --resume \(dir) continues the run"), "\(stderr)")
        #expect(!stderr.contains("still running"), "the workers were waited for as if the job had ended: \(stderr)")
        #expect(try PSTrainProcess.processes(mentioning: "\(dir)/launch.yaml").isEmpty, "processes left behind")
        let resumed = try PSTrainProcess.run(["launch", "--resume", dir], timeout: 300)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try PSTrainProcess.summary(in: dir)["steps"] as? Int == 1800)
    }

    /// A worker whose gradient takes longer than `cluster.step_timeout` (here every step does: the limit is 1 ms) ends
    /// itself with status 1, which `pstrain launch` restarts, instead of heartbeating through a hang forever.
    @Test func aWorkerWhoseStepOutlastsTheStepTimeoutEndsItself() throws {
        let dir = PSTrainProcess.runDirectory()
        let options = ["--config", "configs/bench-mnist-mlp.yaml", "cluster.workers=1", "train.batch_size=512"]
        let server = try PSTrainProcess.start(["server", "--run-dir", dir] + options, stderrPath: "\(dir).server")
        defer { server.stop() }
        let endpoint = String(try #require(server.line(startingWith: "listening on ")).dropFirst("listening on ".count))
        let worker = try PSTrainProcess.start(["worker", "--connect", endpoint, "--rank", "0", "cluster.step_timeout=0.001"] + options,
                                              stderrPath: "\(dir).worker")
        defer { worker.stop() }
        #expect(worker.wait(timeout: 120) == 1, "\(PSTrainProcess.log("\(dir).worker"))")
        #expect(PSTrainProcess.log("\(dir).worker").contains("has been computing for over 0.001 s (cluster.step_timeout): it looks hung"),
                "\(PSTrainProcess.log("\(dir).worker"))")
    }

    /// A TCP socket listening on `endpoint` (`tcp://127.0.0.1:port`), holding its port until closed.
    static func listen(on endpoint: String) throws -> Int32 {
        let port = try #require(UInt16(endpoint.split(separator: ":").last ?? ""), "no port in \(endpoint)")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 1) == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return fd
    }

    /// A server killed mid-run and restarted with --resume, or with the very command it first ran as an engine
    /// restarts it (--resume-if-exists): its workers register again and the job ends as an undisturbed one would,
    /// bit for bit (sync runs are deterministic, and every worker goes back to the checkpoint's step).
    @Test(arguments: [false, true])
    func aServerRestartedFromItsCheckpointFinishesTheJobExactly(sameCommand: Bool) throws {
        let cleanDir = try cleanLaunch()
        let dir = PSTrainProcess.runDirectory()
        let options = mlp + ["cluster.workers=4", "train.checkpoint_every=100", "train.log_every=1"]
        let command = ["server", "--run-dir", dir] + (sameCommand ? ["--resume-if-exists"] : []) + options
        var server = try PSTrainProcess.start(command, stderrPath: "\(dir).server1")
        let endpoint = String(try #require(server.line(startingWith: "listening on ")).dropFirst("listening on ".count))
        let workers = try (0 ..< 4).map { rank in
            try PSTrainProcess.start(["worker", "--connect", endpoint, "--rank", "\(rank)"] + options, stderrPath: "\(dir).worker\(rank)")
        }
        defer { workers.forEach { $0.stop() } }
        #expect(Self.waitForStep(550, in: dir) { server.process.isRunning }, "the run never reached step 550")
        server.stop()
        let killedAt = Self.loggedStep(dir)

        // Something still holds the endpoint (as the server it replaces may, still stopping): the new server waits
        // for it to come free.
        let holder = try Self.listen(on: endpoint)
        server = try PSTrainProcess.start(sameCommand ? command : ["server", "--resume", dir], stderrPath: "\(dir).server2")
        defer { server.stop() }
        let waited = PSTrainProcess.waitFor(timeout: 30) { PSTrainProcess.log("\(dir).server2").contains("is still in use; trying again") }
        close(holder)
        #expect(waited, "no word of the endpoint in use: \(PSTrainProcess.log("\(dir).server2"))")
        #expect(server.line(startingWith: "listening on ") == "listening on \(endpoint)", "the restarted server binds the same endpoint")
        let serverLog = (try? String(contentsOfFile: "\(dir).server2", encoding: .utf8)) ?? ""
        #expect(server.wait(timeout: 300) == 0, "\(serverLog)")
        #expect(!PSTrainProcess.log("\(dir).server2").contains("another config"), "the same command warned of a changed config")
        for (rank, worker) in workers.enumerated() {
            #expect(worker.wait(timeout: 30) == 0, "worker \(rank): \((try? String(contentsOfFile: "\(dir).worker\(rank)", encoding: .utf8)) ?? "")")
        }
        let summary = try PSTrainProcess.summary(in: dir)
        let resumedFrom = try #require(summary["resumed_from_step"] as? Int)
        let redone = try #require(summary["steps_redone"] as? Int)
        #expect(resumedFrom % 100 == 0 && killedAt - resumedFrom == redone && redone <= 100,
                "killed at step \(killedAt), resumed from \(resumedFrom), \(redone) redone")
        let clean = try PSTrainProcess.summary(in: cleanDir)
        for key in ["test_loss", "test_accuracy", "train_loss"] {
            #expect(summary[key] as? Double == clean[key] as? Double, "\(key): \(String(describing: summary[key])) after the restart, \(String(describing: clean[key])) clean")
        }
    }
}
