import Foundation
import Glibc
import Testing

/// `pstrain server` and `pstrain worker` started as engines start them: no flags for role, rank or address,
/// only the engine's environment variables.
@Suite(.serialized) struct ClusterEnvironmentTests {
    let config = ["--config", "configs/digits-softmax.yaml", "train.batch_size=16"]

    /// A port free a moment ago on 127.0.0.1: engines hand out fixed ports, so the test picks one.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs `servers` server shards and `workers` workers with the environments `env(role, index)` gives, all started
    /// at once as an engine would; shard 0's summary.
    func train(servers: Int = 1, workers: Int = 2, _ env: (String, Int) -> [String: String]) throws -> [String: Any] {
        let dir = PSTrainProcess.runDirectory()
        let shards = try (0 ..< servers).map { index in
            try PSTrainProcess.start(["server", "--run-dir", dir] + config, stderrPath: "\(dir).server\(index)", environment: env("server", index))
        }
        defer { shards.forEach { $0.stop() } }
        for (index, shard) in shards.enumerated() {
            _ = try #require(shard.line(startingWith: "listening on "), "\(PSTrainProcess.log("\(dir).server\(index)"))")
        }
        let workerProcesses = try (0 ..< workers).map { index in
            try PSTrainProcess.start(["worker"] + config, stderrPath: "\(dir).worker\(index)", environment: env("worker", index))
        }
        defer { workerProcesses.forEach { $0.stop() } }
        for (index, worker) in workerProcesses.enumerated() {
            #expect(worker.wait(timeout: 120) == 0, "worker \(index): \(PSTrainProcess.log("\(dir).worker\(index)"))")
        }
        for (index, shard) in shards.enumerated() {
            #expect(shard.wait(timeout: 60) == 0, "server shard \(index): \(PSTrainProcess.log("\(dir).server\(index)"))")
        }
        return try PSTrainProcess.summary(in: dir)
    }

    @Test func tfConfigPlacesEveryProcess() throws {
        let port = try Self.freePort()
        let summary = try train { role, index in
            let cluster = "{\"ps\": [\"127.0.0.1:\(port)\"], \"worker\": [\"127.0.0.1:1\", \"127.0.0.1:2\"]}"
            return ["TF_CONFIG": "{\"cluster\": \(cluster), \"task\": {\"type\": \"\(role == "server" ? "ps" : "worker")\", \"index\": \(index)}}"]
        }
        #expect(summary["workers"] as? Int == 2, "the worker count comes from cluster.worker")
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.95)
    }

    @Test func tfConfigWithTwoPsTasksShardsTheParameters() throws {
        let ports = try [Self.freePort(), Self.freePort()]
        let summary = try train(servers: 2, workers: 3) { role, index in
            let cluster = "{\"ps\": [\"127.0.0.1:\(ports[0])\", \"127.0.0.1:\(ports[1])\"], \"worker\": [\"a:1\", \"b:1\", \"c:1\"]}"
            return ["TF_CONFIG": "{\"cluster\": \(cluster), \"task\": {\"type\": \"\(role == "server" ? "ps" : "worker")\", \"index\": \(index)}}"]
        }
        #expect(summary["servers"] as? Int == 2, "the shard count comes from cluster.ps")
        #expect(summary["workers"] as? Int == 3)
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.95)
    }

    /// ps-lite's variables with two servers name only the root: the server that takes it is shard 0, the other
    /// joins it there (from the address of the interface DMLC_INTERFACE names), and the workers learn the other
    /// shard from shard 0.
    @Test func dmlcWithTwoServersFindsTheOtherShardThroughTheRoot() throws {
        let port = try Self.freePort()
        let summary = try train(servers: 2, workers: 2) { role, _ in
            ["DMLC_ROLE": role, "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "\(port)", "DMLC_NUM_SERVER": "2", "DMLC_NUM_WORKER": "2",
             "DMLC_INTERFACE": "lo"]
        }
        #expect(summary["servers"] as? Int == 2 && summary["workers"] as? Int == 2)
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.95)
    }

    /// A server that is not the root's, told to use an interface this host lacks, names the interfaces it has.
    @Test func aDMLCInterfaceThatIsNotHereIsNamedWithTheOnesThatAre() throws {
        // The root's port is taken, as shard 0 would hold it.
        let port = try Self.freePort()
        let root = try FailureTests.listen(on: "tcp://127.0.0.1:\(port)")
        defer { close(root) }
        let result = try PSTrainProcess.run(["server", "--run-dir", PSTrainProcess.runDirectory()] + config, timeout: 30, environment: [
            "DMLC_ROLE": "server", "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "\(port)", "DMLC_NUM_SERVER": "2",
            "DMLC_NUM_WORKER": "2", "DMLC_INTERFACE": "nosuch0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("DMLC_INTERFACE nosuch0: no such network interface here (this host has lo"), "\(result.stderr)")
    }

    @Test func dmlcVariablesPlaceEveryProcess() throws {
        let port = try Self.freePort()
        let summary = try train { role, _ in
            ["DMLC_ROLE": role, "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "\(port)", "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "2"]
        }
        #expect(summary["workers"] as? Int == 2)
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.95)
    }

    @Test func envShowsWhereEachValueCameFrom() throws {
        let result = try PSTrainProcess.run(["env"], environment: ["SLURM_PROCID": "3", "SLURM_NTASKS": "5", "SLURM_JOB_NODELIST": "node[08-10],gpu1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            engine         Slurm
            role           worker   (SLURM_PROCID > 0)
            rank           2   (SLURM_PROCID - 1)
            server_shards  1   (SLURM_PROCID 0 is the server)
            servers        tcp://node08:5555   (the first node of SLURM_STEP_NODELIST or SLURM_JOB_NODELIST)
            workers        4   (SLURM_NTASKS - 1)

            """)
        let fromConfig = try PSTrainProcess.run(["env", "cluster.workers=6"], environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "5", "SLURM_JOB_NODELIST": "n1"])
        #expect(fromConfig.stdout.contains("workers        6   (config cluster.workers)"), "the config beats the environment: \(fromConfig.stdout)")
    }

    /// `pstrain launch` inside a Slurm allocation of one task: its children follow the launcher's flags, not the
    /// allocation's variables (which alone would be refused: a job step of one task has no workers).
    @Test func launchInsideAnEngineIgnoresItsVariables() throws {
        let dir = PSTrainProcess.runDirectory()
        let result = try PSTrainProcess.run(["launch", "--config", "configs/digits-softmax.yaml", "--workers", "2", "--run-dir", dir, "train.epochs=2"],
                                            environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_NODELIST": "n1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try PSTrainProcess.summary(in: dir)["workers"] as? Int == 2)
        let alone = try PSTrainProcess.run(["worker", "--connect", "tcp://127.0.0.1:9"] + config, timeout: 30,
                                           environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_NODELIST": "n1"])
        #expect(alone.status != 0 && alone.stderr.contains("a pstrain job step needs at least 2 tasks"), "\(alone.stderr)")
    }

    @Test func aProcessStartedInTheWrongRoleIsToldSo() throws {
        let result = try PSTrainProcess.run(["worker"] + config, timeout: 30, environment: ["DMLC_ROLE": "server", "DMLC_PS_ROOT_URI": "127.0.0.1",
                                                                                          "DMLC_PS_ROOT_PORT": "9", "DMLC_NUM_WORKER": "2"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("the environment says this process is a server (DMLC_ROLE), not a worker"), "\(result.stderr)")
    }
}
