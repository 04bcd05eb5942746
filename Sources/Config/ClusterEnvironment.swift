import Foundation

/// Where this process stands in a cluster, as an engine's environment describes it: its role and index, the
/// server shards' addresses and the number of workers, each with where it came from.
public struct ClusterSpec: Equatable, Sendable {
    public enum Role: String, Sendable { case server, worker }

    /// A value and where it came from ("TF_CONFIG task.index", "SLURM_PROCID", "--rank", ...).
    public struct Sourced<Value: Equatable & Sendable>: Equatable, Sendable {
        public var value: Value
        public var source: String
        public init(_ value: Value, from source: String) {
            self.value = value
            self.source = source
        }
    }

    /// The engine that set the environment: TF_CONFIG, DMLC, Slurm or Kubernetes.
    public var engine: String
    public var role: Sourced<Role>?
    /// The server shard's index, or the worker's rank; nil when the server assigns it (DMLC: registration order).
    public var index: Sourced<Int>?
    /// The server shards' addresses (`tcp://host:port`), shard 0 first, when the environment names them.
    public var servers: Sourced<[String]>?
    /// How many server shards there are.
    public var serverCount: Sourced<Int>?
    public var workers: Sourced<Int>?
    /// Other server shards are found through shard 0, at the one address the environment names (ps-lite: only
    /// the scheduler's root address is known); the shards' indexes then come from the order they join.
    public var discoversShards = false
    /// This host's address for the servers that join shard 0 (ps-lite's DMLC_NODE_HOST), when set.
    public var nodeHost: Sourced<String>?
    /// The network interface whose IPv4 address a server that joins shard 0 gives as its own (ps-lite's
    /// DMLC_INTERFACE), when set; `nodeHost` comes first.
    public var nodeInterface: Sourced<String>?
    /// The role is inferred (a pod's host name ending in a number), not stated: a process whose command says
    /// otherwise is not in such a cluster, rather than in the wrong role.
    public var roleInferred = false

    public init(engine: String) { self.engine = engine }
}

/// Reads the cluster spec that TFJob (`TF_CONFIG`), ps-lite (`DMLC_*`), Slurm (`SLURM_*`) or a Kubernetes Indexed
/// Job or StatefulSet (`JOB_COMPLETION_INDEX`, the pod's host name) put in the environment, once, at the edge.
public enum ClusterEnvironment {
    /// The port a server listens on when the engine names only hosts (Slurm).
    public static let defaultPort = 5555

    /// The spec in `environment`, or nil when no engine's variables are there. `hostname` gives a StatefulSet
    /// pod's ordinal (`pstrain-server-2` is shard 2).
    public static func resolve(_ environment: [String: String], hostname: String) throws(ConfigError) -> ClusterSpec? {
        if let text = environment["TF_CONFIG"], !text.isEmpty { return try tfConfig(text) }
        if environment["DMLC_ROLE"] != nil { return try dmlc(environment) }
        if environment["SLURM_PROCID"] != nil { return try slurm(environment) }
        if environment["JOB_COMPLETION_INDEX"] != nil || environment["KUBERNETES_SERVICE_HOST"] != nil {
            return try kubernetes(environment, hostname: hostname)
        }
        return nil
    }

    /// TFJob: `{"cluster": {"ps": [...], "worker": [...], "chief": [...]}, "task": {"type": "worker", "index": 1}}`.
    /// A chief is worker 0 and the workers follow it.
    static func tfConfig(_ text: String) throws(ConfigError) -> ClusterSpec {
        func fail(_ message: String) -> ConfigError {
            ConfigError(source: "TF_CONFIG", message: message, hint: "TFJob sets it as {\"cluster\": {\"ps\": [...], \"worker\": [...]}, \"task\": {\"type\": ..., \"index\": ...}}")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { throw fail("not a JSON object") }
        guard let cluster = object["cluster"] as? [String: Any] else { throw fail("no \"cluster\" object") }
        func addresses(_ key: String) throws(ConfigError) -> [String] {
            guard let value = cluster[key] else { return [] }
            guard let list = value as? [String], list.allSatisfy({ $0.contains(":") }) else { throw fail("cluster.\(key) is not a list of \"host:port\"") }
            return list
        }
        let ps = try addresses("ps"), chief = try addresses("chief"), workers = try addresses("worker")
        guard !ps.isEmpty else { throw fail("cluster.ps is empty: pstrain needs at least one server shard") }
        var spec = ClusterSpec(engine: "TF_CONFIG")
        spec.servers = .init(ps.map { "tcp://\($0)" }, from: "TF_CONFIG cluster.ps")
        spec.serverCount = .init(ps.count, from: "TF_CONFIG cluster.ps")
        spec.workers = .init(chief.count + workers.count, from: chief.isEmpty ? "TF_CONFIG cluster.worker" : "TF_CONFIG cluster.chief + cluster.worker")
        if let task = object["task"] as? [String: Any] {
            guard let type = task["type"] as? String, let index = (task["index"] as? NSNumber)?.intValue, index >= 0 else {
                throw fail("task needs a \"type\" and a non-negative \"index\"")
            }
            switch type {
            case "ps":
                guard index < ps.count else { throw fail("task.index \(index) is beyond cluster.ps's \(ps.count) entries") }
                spec.role = .init(.server, from: "TF_CONFIG task.type")
                spec.index = .init(index, from: "TF_CONFIG task.index")
            case "chief", "master":
                spec.role = .init(.worker, from: "TF_CONFIG task.type")
                spec.index = .init(index, from: "TF_CONFIG task.index (the chief is worker 0)")
            case "worker":
                guard index < workers.count else { throw fail("task.index \(index) is beyond cluster.worker's \(workers.count) entries") }
                spec.role = .init(.worker, from: "TF_CONFIG task.type")
                spec.index = .init(chief.count + index, from: chief.isEmpty ? "TF_CONFIG task.index" : "TF_CONFIG task.index, after the chief")
            default:
                throw fail("task.type \"\(type)\" has no pstrain role: ps is a server shard; chief and worker are workers")
            }
        }
        return spec
    }

    /// ps-lite: DMLC_ROLE, DMLC_PS_ROOT_URI and _PORT, DMLC_NUM_SERVER, DMLC_NUM_WORKER, DMLC_NODE_HOST, DMLC_INTERFACE. There is
    /// no scheduler: server shard 0 listens at the root address in its place, the other shards join it there in
    /// the order they start, and workers take ranks in the order they register.
    static func dmlc(_ env: [String: String]) throws(ConfigError) -> ClusterSpec {
        func number(_ name: String) throws(ConfigError) -> Int? { try ClusterEnvironment.number(name, in: env, atLeast: 1) }
        var spec = ClusterSpec(engine: "DMLC")
        switch env["DMLC_ROLE"] ?? "" {
        case "server": spec.role = .init(.server, from: "DMLC_ROLE")
        case "worker": spec.role = .init(.worker, from: "DMLC_ROLE")
        case "scheduler":
            throw ConfigError(source: "DMLC_ROLE", message: "pstrain has no scheduler: server shard 0 listens at DMLC_PS_ROOT_URI:DMLC_PS_ROOT_PORT in its place",
                              hint: "start only DMLC_ROLE=server and DMLC_ROLE=worker processes")
        case let other: throw ConfigError(source: "DMLC_ROLE", message: "'\(other)' is not server, worker or scheduler")
        }
        if let uri = env["DMLC_PS_ROOT_URI"], let portText = env["DMLC_PS_ROOT_PORT"] {
            guard let port = Int(portText), (1 ... 65535).contains(port) else {
                throw ConfigError(source: "DMLC_PS_ROOT_PORT", message: "'\(portText)' is not a port")
            }
            spec.servers = .init(["tcp://\(uri):\(port)"], from: "DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT")
        }
        if let n = try number("DMLC_NUM_SERVER") {
            spec.serverCount = .init(n, from: "DMLC_NUM_SERVER")
            spec.discoversShards = n > 1
        }
        if let host = env["DMLC_NODE_HOST"], !host.isEmpty { spec.nodeHost = .init(host, from: "DMLC_NODE_HOST") }
        if let name = env["DMLC_INTERFACE"], !name.isEmpty { spec.nodeInterface = .init(name, from: "DMLC_INTERFACE") }
        if let n = try number("DMLC_NUM_WORKER") { spec.workers = .init(n, from: "DMLC_NUM_WORKER") }
        return spec
    }

    /// Slurm: task 0 of a job step is the server (on the step's first node) and the others are workers 1 less in
    /// rank. In a heterogeneous job, component 0 holds the server shards and component 1 the workers, each
    /// started as a step of its own (`srun --het-group=0 pstrain server & srun --het-group=1 pstrain worker`),
    /// so SLURM_PROCID is the shard index or the worker rank.
    static func slurm(_ env: [String: String]) throws(ConfigError) -> ClusterSpec {
        func number(_ name: String) throws(ConfigError) -> Int? { try ClusterEnvironment.number(name, in: env, atLeast: 0) }
        var spec = ClusterSpec(engine: "Slurm")
        let procID = try number("SLURM_PROCID") ?? 0
        if let serverNodes = env["SLURM_JOB_NODELIST_HET_GROUP_0"] {
            let hosts = try SlurmHostList.expand(serverNodes)
            let shards = try number("SLURM_NTASKS_HET_GROUP_0") ?? hosts.count
            spec.serverCount = .init(shards, from: "SLURM_NTASKS_HET_GROUP_0")
            spec.servers = .init(hosts.prefix(shards).map { "tcp://\($0):\(defaultPort)" }, from: "SLURM_JOB_NODELIST_HET_GROUP_0 (one shard a node)")
            if let workers = try number("SLURM_NTASKS_HET_GROUP_1") { spec.workers = .init(workers, from: "SLURM_NTASKS_HET_GROUP_1") }
            spec.index = .init(procID, from: "SLURM_PROCID (within its component)")
            return spec
        }
        let ntasks = try number("SLURM_NTASKS")
        let nprocs = try number("SLURM_NPROCS")
        guard let tasks = ntasks ?? nprocs, tasks >= 2 else {
            throw ConfigError(source: "SLURM_NTASKS", message: "a pstrain job step needs at least 2 tasks: task 0 is the server, the others workers")
        }
        guard let nodes = env["SLURM_STEP_NODELIST"] ?? env["SLURM_JOB_NODELIST"] ?? env["SLURM_NODELIST"], let first = try SlurmHostList.expand(nodes).first else {
            throw ConfigError(source: "SLURM_JOB_NODELIST", message: "not set, so the server's node is unknown")
        }
        spec.serverCount = .init(1, from: "SLURM_PROCID 0 is the server")
        spec.servers = .init(["tcp://\(first):\(defaultPort)"], from: "the first node of SLURM_STEP_NODELIST or SLURM_JOB_NODELIST")
        spec.workers = .init(tasks - 1, from: "SLURM_NTASKS - 1")
        if procID == 0 {
            spec.role = .init(.server, from: "SLURM_PROCID 0")
            spec.index = .init(0, from: "SLURM_PROCID 0")
        } else {
            spec.role = .init(.worker, from: "SLURM_PROCID > 0")
            spec.index = .init(procID - 1, from: "SLURM_PROCID - 1")
        }
        return spec
    }

    /// The variable `name` as a whole number of at least `minimum`; nil when it is not set.
    static func number(_ name: String, in env: [String: String], atLeast minimum: Int) throws(ConfigError) -> Int? {
        guard let text = env[name] else { return nil }
        guard let n = Int(text), n >= minimum else {
            throw ConfigError(source: name, message: "'\(text)' is not a whole number of at least \(minimum)")
        }
        return n
    }

    /// Kubernetes: an Indexed Job's JOB_COMPLETION_INDEX is a worker's rank; a StatefulSet pod's ordinal (the
    /// number ending its host name) is a server shard's index.
    static func kubernetes(_ env: [String: String], hostname: String) throws(ConfigError) -> ClusterSpec {
        var spec = ClusterSpec(engine: "Kubernetes")
        if let text = env["JOB_COMPLETION_INDEX"] {
            guard let index = Int(text), index >= 0 else { throw ConfigError(source: "JOB_COMPLETION_INDEX", message: "'\(text)' is not an index") }
            spec.role = .init(.worker, from: "JOB_COMPLETION_INDEX")
            spec.index = .init(index, from: "JOB_COMPLETION_INDEX")
        } else if let dash = hostname.lastIndex(of: "-"), let ordinal = Int(hostname[hostname.index(after: dash)...]), ordinal >= 0 {
            spec.role = .init(.server, from: "StatefulSet pod \(hostname)")
            spec.index = .init(ordinal, from: "StatefulSet pod ordinal of \(hostname)")
            spec.roleInferred = true
        }
        return spec
    }
}
