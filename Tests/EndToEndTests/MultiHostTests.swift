import Foundation
import Testing

/// Private "hosts" for a test: network namespaces joined by a bridge (`scripts/netns-hosts`), host i at
/// 10.77.0.(i+1). Removed, with every process in them, by `remove()` or when this object goes (a test calls
/// `remove()` in a `defer`: a failed expectation may keep a reference to this object for the rest of the run).
final class NetworkHosts {
    let prefix: String
    let count: Int
    private var removed = false

    /// Whether this process may create network namespaces (root, or CAP_SYS_ADMIN).
    static let canCreate: Bool = {
        let probe = "pstrain-probe-\(getpid())"
        guard (try? PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "add", probe], timeout: 10).status) == 0 else {
            return false
        }
        _ = try? PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "del", probe], timeout: 10)
        return true
    }()

    init(count: Int, rate: String? = nil) throws {
        prefix = "pst\(getpid() % 100_000)\(Int.random(in: 0 ..< 1000))"
        self.count = count
        let result = try PSTrainProcess.run(executable: Self.script, ["create", prefix, "\(count)"] + (rate.map { [$0] } ?? []), timeout: 60)
        try #require(result.status == 0, "netns-hosts create: \(result.stderr)")
    }

    deinit { remove() }

    /// Kills every process on these hosts and removes them; once.
    func remove() {
        guard !removed else { return }
        removed = true
        let result = try? PSTrainProcess.run(executable: Self.script, ["delete", prefix], timeout: 60)
        if result?.status != 0 { Issue.record("netns-hosts delete \(prefix) failed: \(result?.stderr ?? "")") }
    }

    static var script: URL { PSTrainProcess.packageRoot.appendingPathComponent("scripts/netns-hosts") }

    /// Takes host `host` off the network, as a pulled cable would: its switch port goes down, and what is sent
    /// to it or from it is lost without a word.
    func disconnect(_ host: Int) throws {
        let result = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"),
                                            ["-n", "\(prefix)-sw", "link", "set", "port\(host)", "down"], timeout: 30)
        try #require(result.status == 0, "cannot disconnect host \(host): \(result.stderr)")
    }

    func namespace(_ host: Int) -> String { "\(prefix)-h\(host)" }
    func address(_ host: Int) -> String { "10.77.0.\(host + 1)" }
}

/// Processes on hosts of their own, each placed by the environment an engine would set, with CurveZMQ (the servers
/// bind non-loopback addresses): two server shards and three workers on five hosts, under TF_CONFIG and under DMLC_*.
@Suite(.serialized, .enabled(if: NetworkHosts.canCreate, "creating network namespaces needs root (CAP_SYS_ADMIN); CI runs as root"))
struct MultiHostTests {
    /// The namespaces share this machine's /dev/shm, where real hosts would not: payloads are kept on the links.
    let config = ["--config", "configs/digits-mlp.yaml", "train.batch_size=10", "cluster.shared_memory=false"]

    /// Keys for the job: one server pair (shared by the shards, and let in as shard 0's client) and a worker pair.
    func makeKeys(_ dir: String) throws -> (server: [String], worker: [String]) {
        let keys = "\(dir)-keys"
        let made = try PSTrainProcess.run(["keygen", "--dir", keys, "server", "worker"])
        try #require(made.status == 0, "\(made.stderr)")
        try FileManager.default.createDirectory(atPath: "\(keys)/clients", withIntermediateDirectories: false)
        for name in ["server.key", "worker.key"] { try FileManager.default.copyItem(atPath: "\(keys)/\(name)", toPath: "\(keys)/clients/\(name)") }
        return (["--curve-secret", "\(keys)/server.key_secret", "--curve-clients", "\(keys)/clients"],
                ["--curve-server", "\(keys)/server.key", "--curve-secret", "\(keys)/worker.key_secret"])
    }

    @Test func tfConfigTrainsAcrossFiveHosts() throws {
        let hosts = try NetworkHosts(count: 5)
        defer { hosts.remove() }
        let dir = PSTrainProcess.runDirectory()
        let keys = try makeKeys(dir)
        let ps = (0 ..< 2).map { "\"\(hosts.address($0)):5555\"" }.joined(separator: ", ")
        let workers = (2 ..< 5).map { "\"\(hosts.address($0)):2222\"" }.joined(separator: ", ")
        func tfConfig(_ type: String, _ index: Int) -> [String: String] {
            ["TF_CONFIG": "{\"cluster\": {\"ps\": [\(ps)], \"worker\": [\(workers)]}, \"task\": {\"type\": \"\(type)\", \"index\": \(index)}}"]
        }
        // Each host has a run directory of its own, as separate machines would; shard 0's is the job's.
        let shards = try (0 ..< 2).map { shard in
            try PSTrainProcess.start(["server", "--run-dir", shard == 0 ? dir : "\(dir)-shard\(shard)"] + config + keys.server,
                                     stderrPath: "\(dir).server\(shard)", environment: tfConfig("ps", shard), namespace: hosts.namespace(shard))
        }
        defer { shards.forEach { $0.stop() } }
        for (shard, process) in shards.enumerated() {
            let line = try #require(process.line(startingWith: "listening on "), "shard \(shard): \(PSTrainProcess.log("\(dir).server\(shard)"))")
            #expect(line == "listening on tcp://\(hosts.address(shard)):5555")
        }
        let workerProcesses = try (0 ..< 3).map { rank in
            try PSTrainProcess.start(["worker"] + config + keys.worker, stderrPath: "\(dir).worker\(rank)", environment: tfConfig("worker", rank),
                                     namespace: hosts.namespace(2 + rank))
        }
        defer { workerProcesses.forEach { $0.stop() } }
        for (rank, worker) in workerProcesses.enumerated() {
            #expect(worker.wait(timeout: 240) == 0, "worker \(rank): \(PSTrainProcess.log("\(dir).worker\(rank)"))")
        }
        for (shard, process) in shards.enumerated() {
            #expect(process.wait(timeout: 60) == 0, "shard \(shard): \(PSTrainProcess.log("\(dir).server\(shard)"))")
        }
        let summary = try PSTrainProcess.summary(in: dir)
        #expect(summary["servers"] as? Int == 2 && summary["workers"] as? Int == 3)
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.97, "\(summary)")
        #expect(PSTrainProcess.log("\(dir).server0").contains("pstrain server: serving interface \(hosts.address(0)), port 5555: CurveZMQ"))
    }

    /// ps-lite's variables across hosts: two servers, of which the one on the root address's host is shard 0 and
    /// the other joins it there; three workers ranked by registration, which learn the other shard from shard 0.
    @Test func dmlcTrainsAcrossFiveHosts() throws {
        let hosts = try NetworkHosts(count: 5)
        defer { hosts.remove() }
        let dir = PSTrainProcess.runDirectory()
        let keys = try makeKeys(dir)
        func dmlc(_ role: String) -> [String: String] {
            ["DMLC_ROLE": role, "DMLC_PS_ROOT_URI": hosts.address(0), "DMLC_PS_ROOT_PORT": "9091", "DMLC_NUM_SERVER": "2", "DMLC_NUM_WORKER": "3",
             "DMLC_INTERFACE": "eth0"]
        }
        // Started in the reverse order: the other shard waits for shard 0 to come up.
        let servers = try [1, 0].map { host in
            try PSTrainProcess.start(["server", "--run-dir", host == 0 ? dir : "\(dir)-host1"] + config + keys.server,
                                     stderrPath: "\(dir).server\(host)", environment: dmlc("server"), namespace: hosts.namespace(host))
        }
        defer { servers.forEach { $0.stop() } }
        #expect(servers[1].line(startingWith: "listening on ") == "listening on tcp://\(hosts.address(0)):9091", "\(PSTrainProcess.log("\(dir).server0"))")
        let other = try #require(servers[0].line(startingWith: "listening on "), "\(PSTrainProcess.log("\(dir).server1"))")
        #expect(other.hasPrefix("listening on tcp://\(hosts.address(1)):"), "the other shard serves its own host's address")
        let workers = try (2 ..< 5).map { host in
            try PSTrainProcess.start(["worker"] + config + keys.worker, stderrPath: "\(dir).worker\(host)", environment: dmlc("worker"),
                                     namespace: hosts.namespace(host))
        }
        defer { workers.forEach { $0.stop() } }
        for (index, worker) in workers.enumerated() {
            #expect(worker.wait(timeout: 240) == 0, "worker on host \(index + 2): \(PSTrainProcess.log("\(dir).worker\(index + 2)"))")
        }
        for (index, server) in servers.enumerated() {
            #expect(server.wait(timeout: 60) == 0, "server on host \(1 - index): \(PSTrainProcess.log("\(dir).server\(1 - index)"))")
        }
        #expect(PSTrainProcess.log("\(dir).server1").contains("pstrain server: shard 1 of 2, given by shard 0 at tcp://\(hosts.address(0)):9091"))
        let summary = try PSTrainProcess.summary(in: dir)
        #expect(summary["servers"] as? Int == 2 && summary["workers"] as? Int == 3)
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.97, "\(summary)")
    }
}
