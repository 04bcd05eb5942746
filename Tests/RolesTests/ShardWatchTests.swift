import Config
import Foundation
import MetricsTestKit
@testable import Roles
import Testing
import Training
import Transport
import Wire

/// Shard 0 watches the other shards: one that stops answering is logged as silent once, shown so by
/// `pstrain status`, and logged again when it answers.
@Suite struct ShardWatchTests {
    /// A server for `shard` of `run`, serving on a thread of its own on `network` until `stop` (shard 0 linked to shard 1
    /// at `shardOne`); `served` is left when it returns.
    func startShard(_ shard: Int, of run: PreparedRun, on network: InMemoryNetwork, shardOne: InMemoryNetwork? = nil, in directory: RunDirectory,
                    stop: StopRequest, served: DispatchGroup, monitoring: ServerMetrics = ServerMetrics(),
                    log: @escaping @Sendable (String) -> Void) {
        served.enter()
        Thread {
            defer { served.leave() }
            let links = shardOne.map { [ShardLink(shard: 1, transport: $0.connect(), endpoint: "inproc://shard-1")] } ?? []
            guard let server = try? ParameterServer(run: run, transport: network, directory: directory, shard: shard, links: links,
                                                    quiet: true, stop: stop, monitoring: monitoring, log: log) else { return }
            _ = try? server.serve()
        }.start()
    }

    /// Shard 0's state of shard 1 as a stats request shows it (what `pstrain status` prints).
    func shardOne(_ network: InMemoryNetwork, _ run: PreparedRun) throws -> [String: Any] {
        let client = network.connect()
        try client.send([OutboundFrame(Header(kind: .stats, jobID: run.jobID, sender: -1).encoded())])
        let reply = try #require(try client.receive(timeoutMilliseconds: 10_000), "shard 0 did not answer a stats request")
        let text = try #require(try withFrameBytes(reply) { try Message.decode($0, maxPayloadBytes: 1 << 20).text })
        let state = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let shards = try #require(state["shards"] as? [[String: Any]], "no shards in \(text)")
        return try #require(shards.first, "no shard 1 in \(text)")
    }

    /// Polls shard 0's stats until shard 1's state is `expected`, for up to 10 s; returns the last state seen.
    func waitForShardOne(_ expected: String, _ network: InMemoryNetwork, _ run: PreparedRun) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(10)
        var seen = try shardOne(network, run)
        while seen["state"] as? String != expected && Date() < deadline {
            // Each stats request waits on shard 0's loop, which probes once a heartbeat interval.
            seen = try shardOne(network, run)
        }
        return seen
    }

    /// Whether `condition` holds within 10 s, polled every 10 ms.
    func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while try !condition() {
            guard Date() < deadline else { return false }
            usleep(10_000)
        }
        return true
    }

    /// A 2-shard job that notices a silent shard within 0.3 s, its two shards' networks, and a run directory.
    func twoShardJob() throws -> (run: PreparedRun, networks: [InMemoryNetwork], directory: RunDirectory) {
        var config = ShardEquivalenceTests().config(servers: 2, optimizer: .sgd)
        config.cluster.heartbeatInterval = 0.05
        config.cluster.heartbeatTimeout = 0.3
        let directory = try RunDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-watch-\(UUID().uuidString)").path)
        return (try PreparedRun(config: config), [InMemoryNetwork(), InMemoryNetwork()], directory)
    }

    @Test func aShardThatDoesNotAnswerIsReportedSilentUntilItAnswers() throws {
        let (run, networks, directory) = try twoShardJob()
        let stop = StopRequest(), served = DispatchGroup(), log = InProcessCluster.Lines(), factory = TestMetrics()
        /// Shard 0's `pstrain_server_shards` gauge of `state`, once published.
        func shardsGauge(_ state: String) -> Double? { try? factory.expectGauge("pstrain_server_shards", [("state", state)]).lastValue }
        defer {
            stop.request("test over")
            #expect(served.wait(timeout: .now() + 10) == .success, "the servers did not stop")
        }
        // Shard 1 is not there yet: shard 0's probes go unanswered.
        startShard(0, of: run, on: networks[0], shardOne: networks[1], in: directory, stop: stop, served: served,
                   monitoring: ServerMetrics(factory: factory), log: log.add)
        let silent = try waitForShardOne("silent", networks[0], run)
        #expect(silent["state"] as? String == "silent" && silent["endpoint"] as? String == "inproc://shard-1", "\(silent)")
        #expect(silent["last_answer_seconds"] == nil, "shard 1 never answered: \(silent)")
        let silentLines = log.all.filter { $0.hasPrefix("server shard 1 (inproc://shard-1) is silent: no answer to shard 0 for ") }
        #expect(silentLines.count == 1, "\(log.all)")
        #expect(silentLines.first?.contains("is its process running and reachable?") == true, "\(log.all)")
        #expect(eventually { shardsGauge("silent") == 1 && shardsGauge("live") == 0 }, "pstrain_server_shards")

        // Once shard 1 serves, it answers the probe waiting for it: live again, and logged once.
        startShard(1, of: run, on: networks[1], in: directory, stop: stop, served: served, log: { _ in })
        let live = try waitForShardOne("live", networks[0], run)
        #expect(live["state"] as? String == "live" && live["step"] as? Int == 0, "\(live)")
        #expect((live["last_answer_seconds"] as? Double).map { $0 < 10 } == true, "\(live)")
        #expect(log.all.filter { $0.hasPrefix("server shard 1 answers again after ") && $0.hasSuffix(" s silent, at step 0") }.count == 1, "\(log.all)")
        #expect(log.all.filter { $0.contains("is silent") }.count == 1, "silence was logged more than once: \(log.all)")
        #expect(eventually { shardsGauge("live") == 1 && shardsGauge("silent") == 0 && shardsGauge("probing") == 0 })
    }

    /// Shard 0 waiting on a shard's answer (its slice for a checkpoint, its tally at the end) serves nothing else
    /// meanwhile, so the wait probes the shard itself: a silent shard is logged long before the wait gives up, with
    /// what shard 0 waits for, and logged again when it answers.
    @Test func aShardSilentWhileShardZeroWaitsOnItIsLoggedBeforeTheWaitGivesUp() throws {
        let (run, networks, directory) = try twoShardJob()
        let stop = StopRequest(), served = DispatchGroup(), log = InProcessCluster.Lines()
        defer {
            stop.request("test over")
            #expect(served.wait(timeout: .now() + 10) == .success, "shard 1 did not stop")
        }
        let link = ShardLink(shard: 1, transport: networks[1].connect(), endpoint: "inproc://shard-1")
        let shardZero = try ParameterServer(run: run, transport: networks[0], directory: directory, shard: 0, links: [link], quiet: true,
                                            stop: stop, log: log.add)
        let silence = "server shard 1 (inproc://shard-1) is silent: no answer to shard 0 for "
        // Shard 1 starts once shard 0 has logged it silent: from another thread, since shard 0's wait holds this one.
        let starter = Thread { [self] in
            if eventually({ log.all.contains { $0.hasPrefix(silence) } }) {
                startShard(1, of: run, on: networks[1], in: directory, stop: stop, served: served, log: { _ in })
            }
        }
        starter.start()
        try link.transport.send([OutboundFrame(Header(kind: .stats, jobID: run.jobID, sender: -1).encoded())])
        let answered = try shardZero.awaitAnswer(from: link, waitingFor: "its tally for the summary", upTo: 30) { message -> Bool? in
            message.header.kind == .stats ? true : nil
        }
        #expect(answered)
        let silentLines = log.all.filter { $0.hasPrefix(silence) }
        #expect(silentLines.count == 1, "\(log.all)")
        #expect(silentLines.first?.hasSuffix("Shard 0 waits up to 30 s for its answer (its tally for the summary): is its process running and reachable?") == true,
                "\(log.all)")
        #expect(log.all.filter { $0.hasPrefix("server shard 1 answers again after ") }.count == 1, "\(log.all)")
    }
}
