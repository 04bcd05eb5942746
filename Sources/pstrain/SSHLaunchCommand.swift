import ArgumentParser
import Config
import Foundation
import Roles
import Training

/// `pstrain launch ssh`: a cluster on other hosts, each role started there through plain ssh.
struct SSHLaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh",
        abstract: "Train with server shards and workers on other hosts, each started there through ssh.",
        discussion: """
            Every host must accept `ssh HOST` without a prompt (keys; ~/.ssh/config is read as usual; add options \
            with --ssh-option) and have pstrain at --remote-pstrain. Workers go to the --hosts in order, COUNT per \
            host, ranks 0, 1, ... in that order; server shards go to --servers-on (default: one on the first worker \
            host), shard 0 first. Each shard binds its host's name or address as given, so workers must reach it \
            by that name.

            The run directory (--run-dir, made absolute) has the same path on every host: the launcher copies the \
            resolved config (and with --curve, each host only the keys its roles need) there before starting, \
            shard 0 writes the run there, and at the end the launcher copies it back beside the per-process logs \
            it wrote from the streamed output (server.log, server-<shard>.log, worker-<rank>.log). Roles start in \
            this working directory where it exists on their host, so relative data paths work on a shared \
            filesystem; synthetic data needs no files at all. Before starting any role, the launcher checks that \
            every host can read the data's files its roles read (a server's host the training and test files, a \
            worker's the training files), and names the hosts and files that are missing; where this host \
            can read the data too, it first checks that every worker's shard holds a step, as `pstrain launch` does.

            Output from every process is shown with its host and role in front. When a process fails (beyond \
            cluster.max_restarts, restarted on its host), or on Ctrl-C / SIGTERM, the launcher closes each ssh's \
            input (a pipe it holds: ssh never reads your terminal), and each remote pstrain stops at that end as \
            on SIGTERM, its last lines still shown; 5 s later it ends the connections still open, and the kernel \
            stops a remote pstrain whose ssh session ends. Servers bind addresses \
            other hosts can reach, so either --curve or --insecure is required.

            --resume DIR continues a stopped or failed run from its latest checkpoint, on the hosts and with the \
            options it was started with (recorded in DIR/launch-ssh.json); shard 0 resumes on its host, where the \
            run's checkpoints are. To leave a host that failed, give --hosts and --servers-on anew with --resume: \
            the same number of workers and of shards, with shard 0's host still first in --servers-on (the other \
            shards get their state from shard 0, and workers need none).

            Example:
              pstrain launch ssh --hosts node1:2,node2:2 --servers-on node0 --curve \\
                  --config configs/digits-mlp.yaml
            """)

    @Option(name: .long, help: ArgumentHelp("Worker hosts, comma-separated, each with its number of workers: node1:2,node2:2 (count 1 if left out).",
                                            valueName: "[user@]host[:count],..."))
    var hosts: String?

    @Option(name: .customLong("servers-on"),
            help: ArgumentHelp("Server shard hosts, each with its number of shards (default: one shard on the first worker host).",
                               valueName: "[user@]host[:count],..."))
    var serversOn: String?

    @Option(name: .long, help: ArgumentHelp("First port for the servers (shard k binds port + k; default: each picks a free port and reports it).",
                                            valueName: "port"))
    var port: Int?

    @Option(name: .customLong("ssh-option"), help: ArgumentHelp("An ssh -o option for every connection, e.g. Port=2222 or IdentityFile=~/.ssh/ps (repeatable).",
                                                                 valueName: "key=value"))
    var sshOptions: [String] = []

    @Option(name: .customLong("remote-pstrain"), help: ArgumentHelp("Path of pstrain on the other hosts (default: this binary's path).", valueName: "path"))
    var remotePstrain: String?

    @OptionGroup var configuration: ConfigArguments

    @OptionGroup var output: RunDirectoryArgument

    @OptionGroup var monitoring: MetricsArgument

    @OptionGroup var workerMonitoring: WorkerMetricsArgument

    @Flag(name: .long, help: "Encrypt and authenticate the job's traffic with CurveZMQ, with keys made for it in <run>/keys.")
    var curve = false

    @Flag(name: .long, help: "Run without encryption or authentication: only on a network where every host that can reach the servers is trusted.")
    var insecure = false

    @Option(name: .long, help: ArgumentHelp("Continue the `launch ssh` run in this directory from its latest checkpoint, on its hosts, with its options.",
                                            valueName: "dir"))
    var resume: String?

    func validate() throws {
        if resume != nil {
            let given = [("--port", port != nil),
                         ("--ssh-option", !sshOptions.isEmpty), ("--remote-pstrain", remotePstrain != nil),
                         ("--config", configuration.config != nil), ("overrides", !configuration.overrides.isEmpty),
                         ("--run-dir", output.runDir != nil), ("--metrics", monitoring.metrics != nil),
                         ("--worker-metrics", workerMonitoring.workerMetrics != nil), ("--curve", curve),
                         ("--insecure", insecure)].filter(\.1).map(\.0)
            guard given.isEmpty else {
                throw ValidationError("--resume continues a run with its config and options (DIR/launch-ssh.json), moving roles at "
                                      + "most (--hosts, --servers-on): drop " + given.joined(separator: ", "))
            }
        } else {
            guard hosts != nil else { throw ValidationError("give the worker hosts with --hosts (or --resume DIR to continue a run)") }
            if curve == insecure {
                throw ValidationError(curve ? "--curve and --insecure contradict each other: pick one"
                                      : "servers on other hosts bind addresses the network can reach: give --curve (encrypted, keys made "
                                      + "for the job) or --insecure (a trusted network only)")
            }
        }
        if let port, !(1 ... 65535).contains(port) { throw ValidationError("--port \(port): a port is 1 to 65535") }
        do {
            if let hosts {
                let workers = try SSHHost.parseList(hosts, option: "--hosts").map(\.count).reduce(0, +)
                _ = try WorkerMetricsArgument.ports(workerMonitoring.workerMetrics, workers: workers)
                try configuration.refuseOverride(of: "cluster.workers", otherThan: workers,
                                                 decidedBy: "--hosts (\(workers) worker\(workers == 1 ? "" : "s"))")
                let servers = try serversOn.map { try SSHHost.parseList($0, option: "--servers-on").map(\.count).reduce(0, +) } ?? 1
                try configuration.refuseOverride(of: "cluster.servers", otherThan: servers,
                                                 decidedBy: serversOn == nil ? "--servers-on (by default 1 shard)"
                                                     : "--servers-on (\(servers) shard\(servers == 1 ? "" : "s"))")
            }
            if let serversOn { _ = try SSHHost.parseList(serversOn, option: "--servers-on") }
        } catch let error as LaunchError {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        do {
            guard let ssh = CapturedRun.locate("ssh") else {
                throw ValidationError("ssh is not on PATH: install the OpenSSH client (apt-get install openssh-client)")
            }
            let directory: RunDirectory
            let record: SSHLaunchRecord
            let resolved: RunConfig
            if let resume {
                directory = try RunDirectory(sharing: resume)
                record = try SSHLaunchRecord.read(from: directory.url).moving(workersTo: hosts, serversTo: serversOn)
                resolved = try ConfigLoader.load(path: directory.url.appendingPathComponent("launch.yaml").path, ofRunDirectory: true)
            } else {
                record = SSHLaunchRecord(hosts: hosts!, serversOn: serversOn, port: port, sshOptions: sshOptions,
                                         remotePstrain: remotePstrain ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
                                         workingDirectory: FileManager.default.currentDirectoryPath, metrics: monitoring.metrics,
                                         workerMetrics: workerMonitoring.workerMetrics, curve: curve)
                let (workers, servers) = try record.roleCounts()
                resolved = try configuration.load(extra: ["cluster.workers=\(workers)", "cluster.servers=\(servers)"])
                try checkShardsHere(resolved)
                directory = try RunDirectory(path: output.runDir)
                try record.write(to: directory.url)
            }
            // Written again on resume too: the roles load it as any config, and a run's own may hold keys that
            // older versions wrote out unread.
            let launchConfig = directory.url.appendingPathComponent("launch.yaml")
            try ConfigLoader.yaml(resolved).write(to: launchConfig, atomically: true, encoding: .utf8)
            let workerHosts = try SSHHost.parseList(record.hosts, option: "--hosts")
            let serverHosts = try record.shardHosts()
            let workers = workerHosts.map(\.count).reduce(0, +), servers = serverHosts.map(\.count).reduce(0, +)
            let keys = record.curve ? try LocalLaunchCommand.curveOptions(in: directory.url, servers: servers) : (server: [], worker: [])
            let setpriv = CapturedRun.locate("setpriv")
            if setpriv == nil {
                printError("pstrain launch ssh: warning: setpriv (util-linux) is not on PATH: if this launcher is killed by SIGKILL, "
                           + "its roles on other hosts keep running until they next write a line")
            }
            let placement = SSHPlacement(
                ssh: ssh, setpriv: setpriv, options: record.sshOptions, program: record.remotePstrain, workingDirectory: record.workingDirectory,
                servers: serverHosts, workers: workerHosts, port: record.port, parentVariable: LaunchedChild.parentVariable)
            try checkData(resolved.data, on: placement)
            try stageFiles(for: placement, in: directory.url, curve: record.curve)
            // Recorded once every host took its files: a mistyped host does not replace a good one in the record.
            if resume != nil { try record.write(to: directory.url) }
            let launcher = ClusterLauncher(placement: placement, configPath: launchConfig.path, workers: workers, servers: servers,
                                           directory: directory.url, maxRestarts: resolved.cluster.maxRestarts, resume: resume != nil,
                                           continueWithoutFailedWorkers: resolved.cluster.onWorkerFailure == .continue,
                                           serverOptions: keys.server + (record.curve ? [] : ["--insecure"]), serverMetrics: record.metrics,
                                           workerOptions: keys.worker,
                                           workerMetrics: try WorkerMetricsArgument.ports(record.workerMetrics, workers: workers),
                                           parentVariable: LaunchedChild.parentVariable, log: printError)
            let stop = StopRequest()
            let trap = SignalTrap { signal in stop.request("signal \(signal)") }
            try withExtendedLifetime(trap) { try launcher.run(stop: stop) }
            try fetchRun(from: placement, into: directory.url)
            print(try SummaryText.render(writtenIn: directory.url.path))
        } catch {
            printError("pstrain launch ssh: error: \(configuration.locatingData(error))")
            throw ExitCode.failure
        }
    }

    /// Where this host can read the data as well (synthetic data, or every file at its path from here), checks that
    /// every worker's shard holds a step, as `pstrain launch` does, before any host is contacted or a run directory
    /// made; where it cannot, each role checks on its own host when it starts.
    private func checkShardsHere(_ config: RunConfig) throws {
        guard config.data.files.allSatisfy({ FileManager.default.isReadableFile(atPath: $0) }) else { return }
        try PreparedRun(config: config).checkShards(workers: config.cluster.workers)
    }

    /// Every role reads its data on its own host (a server the whole data set, a worker the training files):
    /// rather than the first role to start on a host without one of its files failing the launch, this looks for
    /// them on every host before any role starts, and names each host that lacks some, with the files.
    private func checkData(_ data: DataConfig, on placement: SSHPlacement) throws {
        let lacking = try placement.hosts.compactMap { host in
            let serves = placement.shardHosts.contains { $0.destination == host }
            let missing = try placement.unreadableFiles(serves ? data.files : data.trainingFiles, on: host)
            return missing.isEmpty ? nil : "\(host): " + missing.joined(separator: ", ")
        }
        guard !lacking.isEmpty else { return }
        throw ValidationError("no role started: the data's files are not readable on every host (relative paths are taken from "
                              + "\(placement.workingDirectory) there, or from the login directory where that does not exist):\n  "
                              + lacking.joined(separator: "\n  ")
                              + "\n  hint: every host reads its data at the same path: copy it there, or keep it on storage every host mounts")
    }

    /// Copies into the run directory on each host what its roles read: the config, and each role's keys only.
    private func stageFiles(for placement: SSHPlacement, in run: URL, curve: Bool) throws {
        let serverFiles = ["keys/server.key", "keys/server.key_secret", "keys/clients"]
        let workerFiles = ["keys/server.key", "keys/worker.key", "keys/worker.key_secret"]
        for host in placement.hosts {
            var files = ["launch.yaml"]
            if curve {
                if placement.shardHosts.contains(where: { $0.destination == host }) { files += serverFiles }
                if placement.workerHosts.contains(where: { $0.destination == host }) { files += workerFiles }
            }
            var seen = Set<String>()
            files = files.filter { seen.insert($0).inserted }
            // Packed whole before sending: where a host shares this filesystem, unpacking rewrites these same files.
            let archive = try Self.tar(["-cf", "-", "-C", run.path] + files)
            try placement.unpack(archive.output, into: run.path, on: host)
            printError("pstrain launch ssh: \(host): copied \(files.joined(separator: ", ")) into \(run.path)")
        }
    }

    /// Copies the run shard 0 wrote on its host into the local run directory, keeping every file already here (the
    /// launcher's logs; all of it where the hosts share this filesystem).
    private func fetchRun(from placement: SSHPlacement, into run: URL) throws {
        let host = placement.host(of: .server).destination
        let archive = try placement.pack(run.path, on: host)
        _ = try Self.tar(["-xf", "-", "-C", run.path, "--skip-old-files"], input: archive)
    }

    @discardableResult
    private static func tar(_ arguments: [String], input: Data = Data()) throws -> CapturedRun {
        guard let tar = CapturedRun.locate("tar") else { throw ValidationError("tar is not on PATH") }
        let result = try CapturedRun.run(tar, arguments, input: input)
        guard result.status == 0 else {
            throw ValidationError("tar \(arguments.joined(separator: " ")) failed (status \(result.status)): \(result.errors)")
        }
        return result
    }
}

/// How a `launch ssh` run was placed and started, kept in its run directory so that `--resume` starts it again
/// the same way: its roles on the same hosts, shard 0 where the run's checkpoints are.
struct SSHLaunchRecord: Codable {
    var hosts: String
    var serversOn: String?
    var port: Int?
    var sshOptions: [String]
    var remotePstrain: String
    var workingDirectory: String
    var metrics: String?
    /// `--worker-metrics`; absent from records of runs started before it existed.
    var workerMetrics: String?
    /// Encrypted with the keys in `<run>/keys`; else started with --insecure.
    var curve: Bool

    static let fileName = "launch-ssh.json"

    /// The same run with its workers on `workerHosts` and its shards on `serverHosts` where given: as many of each
    /// as before, and shard 0 on its host still, where the run's checkpoints are.
    func moving(workersTo workerHosts: String?, serversTo serverHosts: String?) throws -> SSHLaunchRecord {
        var moved = self
        if let workerHosts {
            let before = try SSHHost.parseList(hosts, option: "--hosts").map(\.count).reduce(0, +)
            let after = try SSHHost.parseList(workerHosts, option: "--hosts").map(\.count).reduce(0, +)
            guard after == before else {
                throw ValidationError("--hosts places \(after) worker(s); the run has \(before) (cluster.workers), each rank's progress in its "
                                      + "checkpoint: place \(before)")
            }
            moved.hosts = workerHosts
        }
        if let serverHosts {
            let shardsBefore = try shardHosts(), shardsAfter = try SSHHost.parseList(serverHosts, option: "--servers-on")
            let countBefore = shardsBefore.map(\.count).reduce(0, +), countAfter = shardsAfter.map(\.count).reduce(0, +)
            guard countAfter == countBefore else {
                throw ValidationError("--servers-on places \(countAfter) server shard(s); the run has \(countBefore): place \(countBefore)")
            }
            guard shardsAfter[0].destination == shardsBefore[0].destination else {
                throw ValidationError("shard 0 resumes from the run's checkpoints on its host, \(shardsBefore[0].destination): keep it first "
                                      + "in --servers-on")
            }
            moved.serversOn = serverHosts
        } else if workerHosts != nil && serversOn == nil {
            // Shard 0 went by default to the first worker host: it stays there, wherever the workers go.
            moved.serversOn = try shardHosts()[0].destination
        }
        return moved
    }

    /// How many workers and server shards the run places.
    func roleCounts() throws -> (workers: Int, servers: Int) {
        (try SSHHost.parseList(hosts, option: "--hosts").map(\.count).reduce(0, +), try shardHosts().map(\.count).reduce(0, +))
    }

    /// The shards' hosts: --servers-on, or by default one shard on the first worker host.
    func shardHosts() throws -> [SSHHost] {
        try serversOn.map { try SSHHost.parseList($0, option: "--servers-on") }
            ?? [SSHHost(destination: SSHHost.parseList(hosts, option: "--hosts")[0].destination, count: 1)]
    }

    static func read(from run: URL) throws -> SSHLaunchRecord {
        let url = run.appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: url) else {
            throw RunDirectoryError(path: run.path, message: "is not a `pstrain launch ssh` run (no \(fileName))",
                                    hint: "give --resume the --run-dir of a `pstrain launch ssh` run; `pstrain launch --resume` continues a local one")
        }
        do {
            return try JSONDecoder().decode(SSHLaunchRecord.self, from: data)
        } catch {
            throw RunDirectoryError(path: url.path, message: "cannot be read: \(error)")
        }
    }

    func write(to run: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: run.appendingPathComponent(Self.fileName))
    }
}
