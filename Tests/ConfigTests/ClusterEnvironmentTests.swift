import Config
import Testing

/// Engines' cluster variables resolved into one spec, and Slurm's host lists expanded.
@Suite struct ClusterEnvironmentTests {
    func resolve(_ env: [String: String], hostname: String = "host") throws -> ClusterSpec? {
        try ClusterEnvironment.resolve(env, hostname: hostname)
    }

    @Test func noEngineGivesNoSpec() throws {
        #expect(try resolve(["PATH": "/usr/bin"]) == nil)
    }

    @Test func tfConfigChiefIsWorkerZeroAndPsAreShards() throws {
        let cluster = #"{"cluster": {"ps": ["ps0:2222", "ps1:2222"], "chief": ["c:2222"], "worker": ["w0:2222", "w1:2222"]}}"#
        let worker = try #require(try resolve(["TF_CONFIG": cluster.dropLast() + #", "task": {"type": "worker", "index": 1}}"#]))
        #expect(worker.engine == "TF_CONFIG" && worker.role?.value == .worker && worker.index?.value == 2)
        #expect(worker.workers?.value == 3 && worker.serverCount?.value == 2)
        #expect(worker.servers?.value == ["tcp://ps0:2222", "tcp://ps1:2222"])
        let ps = try #require(try resolve(["TF_CONFIG": cluster.dropLast() + #", "task": {"type": "ps", "index": 1}}"#]))
        #expect(ps.role?.value == .server && ps.index?.value == 1 && ps.index?.source == "TF_CONFIG task.index")
        let chief = try #require(try resolve(["TF_CONFIG": cluster.dropLast() + #", "task": {"type": "chief", "index": 0}}"#]))
        #expect(chief.role?.value == .worker && chief.index?.value == 0)
    }

    @Test(arguments: [
        (#"not json"#, "TF_CONFIG: not a JSON object"),
        (#"{"task": {}}"#, #"TF_CONFIG: no "cluster" object"#),
        (#"{"cluster": {"worker": ["w:1"]}}"#, "TF_CONFIG: cluster.ps is empty: pstrain needs at least one server shard"),
        (#"{"cluster": {"ps": ["p"]}}"#, #"TF_CONFIG: cluster.ps is not a list of "host:port""#),
        (#"{"cluster": {"ps": ["p:1"]}, "task": {"type": "ps", "index": 3}}"#, "TF_CONFIG: task.index 3 is beyond cluster.ps's 1 entries"),
        (#"{"cluster": {"ps": ["p:1"]}, "task": {"type": "evaluator", "index": 0}}"#, #"TF_CONFIG: task.type "evaluator" has no pstrain role"#),
    ])
    func badTFConfigSaysWhat(text: String, message: String) {
        let error = #expect(throws: ConfigError.self) { try resolve(["TF_CONFIG": text]) }
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test func dmlcRootIsTheServerAndRanksComeFromRegistration() throws {
        let env = ["DMLC_PS_ROOT_URI": "10.0.0.5", "DMLC_PS_ROOT_PORT": "9091", "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "4"]
        let worker = try #require(try resolve(env.merging(["DMLC_ROLE": "worker"]) { $1 }))
        #expect(worker.role?.value == .worker && worker.index == nil, "the server assigns ranks in registration order")
        #expect(worker.servers?.value == ["tcp://10.0.0.5:9091"] && worker.workers?.value == 4 && worker.serverCount?.value == 1)
        let server = try #require(try resolve(env.merging(["DMLC_ROLE": "server"]) { $1 }))
        #expect(server.role?.value == .server)
        let scheduler = #expect(throws: ConfigError.self) { try resolve(env.merging(["DMLC_ROLE": "scheduler"]) { $1 }) }
        #expect(scheduler?.message.hasPrefix("pstrain has no scheduler") == true)
        let port = #expect(throws: ConfigError.self) { try resolve(env.merging(["DMLC_ROLE": "worker", "DMLC_PS_ROOT_PORT": "http"]) { $1 }) }
        #expect(port?.description == "DMLC_PS_ROOT_PORT: 'http' is not a port")
    }

    @Test func dmlcWithSeveralServersFindsThemThroughTheRoot() throws {
        let env = ["DMLC_ROLE": "server", "DMLC_PS_ROOT_URI": "10.0.0.5", "DMLC_PS_ROOT_PORT": "9091", "DMLC_NUM_WORKER": "4"]
        let one = try #require(try resolve(env.merging(["DMLC_NUM_SERVER": "1"]) { $1 }))
        #expect(!one.discoversShards && one.nodeHost == nil && one.nodeInterface == nil)
        let two = try #require(try resolve(env.merging(["DMLC_NUM_SERVER": "2", "DMLC_NODE_HOST": "10.0.0.7", "DMLC_INTERFACE": "eth1"]) { $1 }))
        #expect(two.discoversShards && two.serverCount?.value == 2 && two.servers?.value == ["tcp://10.0.0.5:9091"])
        #expect(two.nodeHost == .init("10.0.0.7", from: "DMLC_NODE_HOST"))
        #expect(two.nodeInterface == .init("eth1", from: "DMLC_INTERFACE"))
    }

    @Test func slurmTaskZeroServesAndTheOthersWork() throws {
        let env = ["SLURM_NTASKS": "4", "SLURM_JOB_NODELIST": "cn[003-004]"]
        let server = try #require(try resolve(env.merging(["SLURM_PROCID": "0"]) { $1 }))
        #expect(server.role?.value == .server && server.servers?.value == ["tcp://cn003:5555"] && server.workers?.value == 3)
        let worker = try #require(try resolve(env.merging(["SLURM_PROCID": "3"]) { $1 }))
        #expect(worker.role?.value == .worker && worker.index?.value == 2)
        let alone = #expect(throws: ConfigError.self) { try resolve(["SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_NODELIST": "n1"]) }
        #expect(alone?.message.hasPrefix("a pstrain job step needs at least 2 tasks") == true)
    }

    @Test func slurmHeterogeneousJobsHoldShardsThenWorkers() throws {
        let spec = try #require(try resolve(["SLURM_PROCID": "1", "SLURM_JOB_NODELIST_HET_GROUP_0": "ps[1-2]", "SLURM_NTASKS_HET_GROUP_0": "2",
                                             "SLURM_NTASKS_HET_GROUP_1": "6", "SLURM_JOB_NODELIST_HET_GROUP_1": "gpu[1-3]"]))
        #expect(spec.serverCount?.value == 2 && spec.servers?.value == ["tcp://ps1:5555", "tcp://ps2:5555"])
        #expect(spec.workers?.value == 6 && spec.index?.value == 1 && spec.role == nil, "the command says which component it is")
    }

    @Test func kubernetesIndexedJobAndStatefulSet() throws {
        let worker = try #require(try resolve(["JOB_COMPLETION_INDEX": "7", "KUBERNETES_SERVICE_HOST": "10.96.0.1"]))
        #expect(worker.role?.value == .worker && worker.index?.value == 7)
        let shard = try #require(try resolve(["KUBERNETES_SERVICE_HOST": "10.96.0.1"], hostname: "pstrain-server-2"))
        #expect(shard.role?.value == .server && shard.index?.value == 2 && shard.index?.source == "StatefulSet pod ordinal of pstrain-server-2")
        #expect(shard.roleInferred && !worker.roleInferred, "a host name suggests a role; an Indexed Job states it")
    }

    @Test(arguments: [
        ("n1", ["n1"]),
        ("node[08-10],gpu1", ["node08", "node09", "node10", "gpu1"]),
        ("a[1,3-4]", ["a1", "a3", "a4"]),
        ("r[1-2]-n[1-2]", ["r1-n1", "r1-n2", "r2-n1", "r2-n2"]),
        ("x[9-11]", ["x9", "x10", "x11"]),
    ])
    func slurmHostListsExpand(list: String, hosts: [String]) throws {
        #expect(try SlurmHostList.expand(list) == hosts)
    }

    @Test(arguments: ["n[1-", "n1]", "n[a-b]", "n[3-1]", "a,,b", "n[[1]]"])
    func malformedHostListsAreRejected(list: String) {
        let error = #expect(throws: ConfigError.self) { try SlurmHostList.expand(list) }
        #expect(error?.description.hasPrefix("SLURM_JOB_NODELIST: '\(list)' is not a Slurm host list") == true, "\(String(describing: error))")
    }
}
