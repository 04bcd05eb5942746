import Foundation
import Testing

/// `pstrain status` asks a real server for its live state.
@Suite(.serialized) struct StatusCommandTests {
    let config = ["--config", "configs/digits-softmax.yaml", "cluster.workers=2"]

    @Test func showsTheJobAndEachWorker() throws {
        let dir = PSTrainProcess.runDirectory()
        let server = try PSTrainProcess.start(["server", "--run-dir", dir] + config, stderrPath: "\(dir).stderr")
        defer { server.stop() }
        let endpoint = String(try #require(server.line(startingWith: "listening on ")).dropFirst("listening on ".count))
        // Worker 1 never comes, so the job waits with worker 0 registered.
        let worker = try PSTrainProcess.start(["worker", "--connect", endpoint, "--rank", "0"] + config, stderrPath: "\(dir).worker0")
        defer { worker.stop() }
        var state: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(60)
        repeat {
            let result = try PSTrainProcess.run(["status", endpoint, "--json"], timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            state = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        } while ((state["workers"] as? [[String: Any]])?.first?["state"] as? String) != "live" && Date() < deadline
        #expect(state["mode"] as? String == "sync" && state["model"] as? String == "softmax 64-10" && state["version"] as? Int == 0)
        #expect(state["running"] as? Bool == true)
        let workers = try #require(state["workers"] as? [[String: Any]])
        #expect(workers.map { $0["state"] as? String } == ["live", "unregistered"])
        // Worker 0 runs on the server's host: its segment was taken.
        #expect(workers.first?["shared_memory"] as? Bool == true)
        // It has handled a registration and these requests, and waited for the rest of its uptime.
        let busy = try #require(state["busy_seconds"] as? Double), uptime = try #require(state["uptime_seconds"] as? Double)
        #expect(busy > 0 && busy < uptime, "busy \(busy) s of \(uptime) s")

        let table = try PSTrainProcess.run(["status", endpoint], timeout: 30)
        #expect(table.stdout.contains("softmax 64-10  sync  step 0/"), "\(table.stdout)")
        #expect(table.stdout.contains(" s, busy ") && table.stdout.contains(" %\n"), "\(table.stdout)")
        #expect(table.stdout.contains("1     unregistered  0      -            -\n"), "\(table.stdout)")
        #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("0     live") && $0.contains(" s ago ") && $0.hasSuffix("  yes") }
                && table.stdout.contains("last seen    shared memory\n"), "\(table.stdout)")
        // The run directory names the same server.
        let byDirectory = try PSTrainProcess.run(["status", dir], timeout: 30)
        #expect(byDirectory.status == 0 && byDirectory.stdout.contains("softmax 64-10  sync  step 0/"), "\(byDirectory.stderr)")
    }

    /// Shard 0 of a sharded job shows the other shards: a shard that stops answering (here: stopped with SIGSTOP, as a
    /// hung process is) turns silent, in the table and in shard 0's log, and live again once it answers.
    @Test func showsEachOtherShardAndOneThatFallsSilent() throws {
        let dir = PSTrainProcess.runDirectory()
        let sharded = config + ["cluster.servers=2", "cluster.heartbeat_interval=0.1", "cluster.heartbeat_timeout=1"]
        let shard1 = try PSTrainProcess.start(["server", "--shard", "1"] + sharded, stderrPath: "\(dir).shard1")
        defer { shard1.stop() }
        let shard1Endpoint = String(try #require(shard1.line(startingWith: "listening on ")).dropFirst("listening on ".count))
        let shard0 = try PSTrainProcess.start(["server", "--shard", "0", "--other-shards", shard1Endpoint, "--run-dir", dir] + sharded,
                                              stderrPath: "\(dir).shard0")
        defer { shard0.stop() }
        let endpoint = String(try #require(shard0.line(startingWith: "listening on ")).dropFirst("listening on ".count))
        /// Shard 1 as shard 0's status shows it, once in `state` or after 60 s.
        func shardOne(becoming state: String) throws -> [String: Any] {
            var shard: [String: Any] = [:]
            let deadline = Date().addingTimeInterval(60)
            repeat {
                let result = try PSTrainProcess.run(["status", endpoint, "--json"], timeout: 30)
                let status = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any]
                shard = (status?["shards"] as? [[String: Any]])?.first ?? [:]
            } while shard["state"] as? String != state && Date() < deadline
            return shard
        }
        let live = try shardOne(becoming: "live")
        #expect(live["state"] as? String == "live" && live["endpoint"] as? String == shard1Endpoint && live["step"] as? Int == 0, "\(live)")
        // Shard 1's own busy time, asked of shard 1 itself.
        let busy = try #require(live["busy_seconds"] as? Double, "\(live)"), uptime = try #require(live["uptime_seconds"] as? Double)
        #expect(busy > 0 && busy < uptime, "busy \(busy) s of \(uptime) s")
        let table = try PSTrainProcess.run(["status", endpoint], timeout: 30).stdout
        #expect(table.contains("shard  state    step   last answer  busy   endpoint\n"), "\(table)")
        let row = try #require(table.split(separator: "\n").last.map(String.init))
        #expect(row.hasPrefix("1      live     0      ") && row.contains(" s ago    ") && row.contains(" %  ") && row.hasSuffix("  \(shard1Endpoint)"),
                "\(table)")

        kill(shard1.process.processIdentifier, SIGSTOP)
        let silent = try shardOne(becoming: "silent")
        kill(shard1.process.processIdentifier, SIGCONT)
        #expect(silent["state"] as? String == "silent" && silent["busy_seconds"] == nil, "a silent shard is not asked: \(silent)")
        #expect(PSTrainProcess.log("\(dir).shard0").contains("server shard 1 (\(shard1Endpoint)) is silent: no answer to shard 0 for "),
                "\(PSTrainProcess.log("\(dir).shard0"))")
        #expect(try shardOne(becoming: "live")["state"] as? String == "live")
        #expect(PSTrainProcess.log("\(dir).shard0").contains("server shard 1 answers again after "), "\(PSTrainProcess.log("\(dir).shard0"))")
    }

    /// A job that has completed is shown from its summary at once, not asked for (its server is gone); once a server
    /// listens there again (here: its endpoint is recorded anew), status asks it, and names the log's last line
    /// when nothing answers.
    @Test func showsACompletedJobFromItsSummary() throws {
        let dir = PSTrainProcess.runDirectory()
        let launch = try PSTrainProcess.run(["launch", "--workers", "1", "--run-dir", dir, "--config", "configs/digits-softmax.yaml", "train.epochs=1"],
                                            timeout: 120)
        try #require(launch.status == 0, "\(launch.stderr)")
        let steps = try #require(try PSTrainProcess.summary(in: dir)["steps"] as? Int)
        // Were it to ask the gone server, it would wait out the timeout and this run's limit.
        let text = try PSTrainProcess.run(["status", dir, "--timeout", "600"], timeout: 30)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("\(dir): the job completed; no server runs there now.\ntrain_loss ")
                && text.stdout.contains("  \(steps) steps  ") && text.stdout.hasSuffix("summary: \(dir)/summary.json\n"), "\(text.stdout)")
        let json = try PSTrainProcess.run(["status", dir, "--json", "--timeout", "600"], timeout: 30)
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        #expect(fields["running"] as? Bool == false && fields["status"] as? String == "completed" && fields["steps"] as? Int == steps)

        let endpoint = try String(contentsOfFile: "\(dir)/endpoint", encoding: .utf8)
        try FileManager.default.removeItem(atPath: "\(dir)/endpoint")
        try endpoint.write(toFile: "\(dir)/endpoint", atomically: true, encoding: .utf8)
        let asked = try PSTrainProcess.run(["status", dir, "--timeout", "0.5"], timeout: 30)
        let lastLine = try #require(PSTrainProcess.log("\(dir)/server.log").split(separator: "\n").last)
        #expect(asked.status != 0)
        #expect(asked.stderr.contains("no answer from \(endpoint.trimmingCharacters(in: .newlines)) within 0.5 s\n"
                                      + "  the run's server.log ends with: \(lastLine)\n"), "\(asked.stderr)")
    }

    @Test func saysWhatItWantsWhenGivenSomethingElse() throws {
        let empty = PSTrainProcess.runDirectory()
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let noEndpoint = try PSTrainProcess.run(["status", empty], timeout: 30)
        #expect(noEndpoint.status != 0)
        #expect(noEndpoint.stderr.contains("\(empty) has no endpoint file: a server writes <run>/endpoint in its run directory"),
                "\(noEndpoint.stderr)")
        let neither = try PSTrainProcess.run(["status", "127.0.0.1:5555"], timeout: 30)
        #expect(neither.status != 0)
        #expect(neither.stderr.contains("127.0.0.1:5555 is neither an endpoint (tcp://HOST:PORT, ipc://PATH) nor a directory"),
                "\(neither.stderr)")
    }

    @Test func saysWhenNothingAnswers() throws {
        let result = try PSTrainProcess.run(["status", "tcp://127.0.0.1:9", "--timeout", "0.5"], timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("no answer from tcp://127.0.0.1:9 within 0.5 s"))
        #expect(result.stderr.contains("hint: is a pstrain server listening there?"))
    }
}
