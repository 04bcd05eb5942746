import ArgumentParser
import Config
import Foundation

/// `pstrain env`: the cluster spec this process would use, and where each value came from.
struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Show the cluster spec resolved from flags, the config and the engine's environment.",
        discussion: """
            pstrain server and pstrain worker take their role, rank, server address and worker count from, in \
            order: their flags (--bind, --connect, --rank), the config (cluster.workers), and the environment an \
            engine sets:

            TF_CONFIG (Kubeflow TFJob)
                cluster.ps are the server shards, cluster.chief and cluster.worker
                the workers, task.type and task.index this process
            DMLC_ROLE, DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER,
            DMLC_NUM_WORKER, DMLC_NODE_HOST, DMLC_INTERFACE (ps-lite, MXNet)
                server shard 0 listens at the root address (there is no
                scheduler) and the other servers join it there; workers take
                ranks in the order they register
            SLURM_PROCID, SLURM_NTASKS, SLURM_JOB_NODELIST (Slurm)
                task 0 is the server on the first node (port 5555), task k the
                worker of rank k-1; in a heterogeneous job, component 0 holds
                the server shards and component 1 the workers
            JOB_COMPLETION_INDEX (Kubernetes Indexed Job)
                the worker's rank; a StatefulSet pod's ordinal (the end of its
                host name) is a server shard's index
            """)

    @OptionGroup var configuration: ConfigArguments

    @Flag(name: .long, help: "Print it as JSON.")
    var json = false

    func run() throws {
        do {
            let cluster = try ClusterResolution(role: nil)
            let resolved = try configuration.load(extra: cluster.configOverrides(configuration))
            let explicit = ConfigLoader.setsKey("cluster.workers", path: configuration.config, overrides: configuration.overrides)
            var rows: [(String, String, String)] = [("engine", cluster.spec?.engine ?? "none", "")]
            if let spec = cluster.spec {
                if let role = spec.role { rows.append(("role", role.value.rawValue, role.source)) }
                if let index = spec.index { rows.append((spec.role?.value == .server ? "shard" : "rank", "\(index.value)", index.source)) }
                if let count = spec.serverCount {
                    rows.append(("server_shards", "\(count.value)", count.source + (spec.discoversShards ? "; shards 1... join shard 0 at the root" : "")))
                }
                if let host = spec.nodeHost { rows.append(("node_host", host.value, host.source)) }
                if let interface = spec.nodeInterface { rows.append(("node_interface", interface.value, interface.source)) }
                if let servers = spec.servers { rows.append(("servers", servers.value.joined(separator: ","), servers.source)) }
            }
            let workersSource = explicit ? "config cluster.workers" : cluster.spec?.workers?.source ?? "config default"
            rows.append(("workers", "\(resolved.cluster.workers)", workersSource))
            if json {
                let object = Dictionary(uniqueKeysWithValues: rows.map { ($0.0, ["value": $0.1, "source": $0.2]) })
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                for (name, value, source) in rows {
                    print(name.padding(toLength: 15, withPad: " ", startingAt: 0) + value + (source.isEmpty ? "" : "   (\(source))"))
                }
            }
        } catch {
            printError("pstrain env: error: \(error)")
            throw ExitCode.failure
        }
    }
}
