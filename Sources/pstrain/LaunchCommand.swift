import ArgumentParser
import Config
import Foundation
import Roles
import Training
import ZeroMQ
import ZMQTransport

/// `pstrain launch`: a whole cluster from one command, on this host (the default) or on others through ssh.
struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Train with a parameter server and N workers: on this host, or on others through ssh.",
        discussion: """
            `pstrain launch --config FILE --workers N` runs every process on this host (`launch local`, the \
            default); `pstrain launch ssh --hosts node1:2,node2:2 ...` runs them on other hosts. See \
            `pstrain launch local --help` and `pstrain launch ssh --help`.
            """,
        subcommands: [LocalLaunchCommand.self, SSHLaunchCommand.self],
        defaultSubcommand: LocalLaunchCommand.self)
}

/// `pstrain launch [local]`: a whole cluster on this host.
struct LocalLaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Train with a parameter server and N workers, each a process on this host (the default of `launch`).",
        discussion: """
            Starts `pstrain server` on a free loopback port and N `pstrain worker` processes, all from the same \
            resolved config, shows the server's progress, and writes the run directory: config.yaml, metrics.csv, \
            evaluation.csv, metrics.jsonl, summary.json, checkpoints/, server.log and worker-<rank>.log.

            With --servers S (or cluster.servers), S server shards each hold a slice of the parameters; shard 0 \
            shows the progress and writes the run and its checkpoints (the whole model, collected from every \
            shard), the others log to server-<shard>.log.

            A crashed worker is restarted with its rank, and a crashed server (shard 0) from its latest \
            checkpoint, which it hands on to the other shards; a crashed shard other than 0 is restarted at its \
            endpoint and shard 0 with it, from the latest checkpoint. Each up to cluster.max_restarts times. A \
            worker that fails beyond that is left out when \
            cluster.on_worker_failure is continue (summary.json lists it under lost_workers), unless it was the \
            last one left. If the server fails beyond that, a worker does under on_worker_failure: wait, the last \
            worker does, or on Ctrl-C / SIGTERM, every process \
            is stopped and the exit status is non-zero; `--resume DIR` then continues the run from its latest \
            checkpoint.

            --metrics is passed to the server (shard 0): see `pstrain server --help`. --worker-metrics gives each \
            worker an endpoint of its own (see `pstrain worker --help`); the launcher shows where. With --curve, \
            a server key pair and a worker key pair are written to <run>/keys (kept for --resume) and every \
            connection is encrypted and authenticated with them.
            """)

    @OptionGroup var configuration: ConfigArguments

    @Option(name: .long, help: ArgumentHelp("Worker processes (default: cluster.workers from the config).", valueName: "n"))
    var workers: Int?

    @Option(name: .long, help: ArgumentHelp("Server shards, each holding a slice of the parameters (default: cluster.servers from the config, 1).",
                                            valueName: "n"))
    var servers: Int?

    @OptionGroup var output: RunDirectoryArgument

    @OptionGroup var monitoring: MetricsArgument

    @OptionGroup var workerMonitoring: WorkerMetricsArgument

    @Flag(name: .long, help: "Encrypt and authenticate the job's traffic with CurveZMQ, with keys made for it in <run>/keys.")
    var curve = false

    @Option(name: .long, help: ArgumentHelp("Continue the run in this directory from its latest checkpoint, with its own config.", valueName: "dir"))
    var resume: String?

    func validate() throws {
        if resume != nil && (configuration.config != nil || !configuration.overrides.isEmpty || output.runDir != nil || workers != nil
            || servers != nil) {
            throw ValidationError("--resume continues a run with its own config, in its own directory: "
                                  + "drop --config, --run-dir, --workers, --servers and overrides")
        }
        for (flag, count) in [("--workers", workers), ("--servers", servers)] where (count ?? 1) < 1 {
            throw ValidationError("\(flag) must be at least 1, got \(count!)")
        }
        try configuration.refuseOverride(of: "cluster.workers", otherThan: workers, decidedBy: "--workers \(workers ?? 0)")
        try configuration.refuseOverride(of: "cluster.servers", otherThan: servers, decidedBy: "--servers \(servers ?? 0)")
    }

    func run() throws {
        do {
            let directory: RunDirectory
            let resolved: RunConfig
            // Fails here, once, on bad data rather than in N + 1 processes, and before a new run directory is made.
            func checked(_ config: RunConfig) throws -> RunConfig {
                _ = try WorkerMetricsArgument.ports(workerMonitoring.workerMetrics, workers: config.cluster.workers)
                try PreparedRun(config: config).checkShards(workers: config.cluster.workers)
                return config
            }
            if let resume {
                directory = try RunDirectory(resuming: resume)
                resolved = try checked(ConfigLoader.load(path: directory.url.appendingPathComponent("config.yaml").path, ofRunDirectory: true))
            } else {
                resolved = try checked(configuration.load(extra: (workers.map { ["cluster.workers=\($0)"] } ?? [])
                                                          + (servers.map { ["cluster.servers=\($0)"] } ?? [])))
                directory = try RunDirectory(path: output.runDir)
            }
            // Written again on resume too: the children load it as any config, and a run's own may hold keys
            // that older versions wrote out unread.
            let launchConfig = directory.url.appendingPathComponent("launch.yaml")
            try ConfigLoader.yaml(resolved).write(to: launchConfig, atomically: true, encoding: .utf8)
            let keys = curve ? try Self.curveOptions(in: directory.url, servers: resolved.cluster.servers) : (server: [], worker: [])
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            let launcher = ClusterLauncher(placement: LocalPlacement(executable: executable), configPath: launchConfig.path, workers: resolved.cluster.workers,
                                         servers: resolved.cluster.servers,
                                         directory: directory.url, maxRestarts: resolved.cluster.maxRestarts, resume: resume != nil,
                                         continueWithoutFailedWorkers: resolved.cluster.onWorkerFailure == .continue,
                                         serverOptions: keys.server, serverMetrics: monitoring.metrics,
                                         workerOptions: keys.worker, workerMetrics: try WorkerMetricsArgument.ports(workerMonitoring.workerMetrics),
                                         parentVariable: LaunchedChild.parentVariable, log: printError)
            let stop = StopRequest()
            let trap = SignalTrap { signal in stop.request("signal \(signal)") }
            try withExtendedLifetime(trap) { try launcher.run(stop: stop) }
            print(try SummaryText.render(writtenIn: directory.url.path))
        } catch {
            printError("pstrain launch: error: \(configuration.locatingData(error))")
            throw ExitCode.failure
        }
    }

    /// The key options for the server and the workers, from `<run>/keys`, made there on first use: a server pair,
    /// and a worker pair whose public key is in `keys/clients`. With several shards, all use the server pair, and
    /// its public key is let in too: shard 0 is the other shards' client.
    static func curveOptions(in run: URL, servers: Int) throws -> (server: [String], worker: [String]) {
        try CurveUnavailable.check()
        let keys = run.appendingPathComponent("keys"), clients = keys.appendingPathComponent("clients")
        if !FileManager.default.fileExists(atPath: keys.path) {
            _ = try CurveKeyFile.write(try CurveKeyPair.generate(), name: "server", in: keys)
            let worker = try CurveKeyFile.write(try CurveKeyPair.generate(), name: "worker", in: keys)
            try FileManager.default.createDirectory(at: clients, withIntermediateDirectories: false)
            try FileManager.default.copyItem(at: worker.public, to: clients.appendingPathComponent("worker.key"))
            if servers > 1 {
                try FileManager.default.copyItem(at: keys.appendingPathComponent("server.key"), to: clients.appendingPathComponent("server.key"))
            }
        }
        return (["--curve-secret", keys.appendingPathComponent("server.key_secret").path, "--curve-clients", clients.path],
                ["--curve-server", keys.appendingPathComponent("server.key").path, "--curve-secret", keys.appendingPathComponent("worker.key_secret").path])
    }
}
