import Glibc
import ArgumentParser
import Config
import Foundation
import Monitoring
import Roles
import Training
import Transport
import ZeroMQ
import ZMQTransport

/// `pstrain server`: the parameter server of a distributed run.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the parameter server: hold the parameters, apply the workers' gradients.",
        discussion: """
            Binds the address, prints "listening on <endpoint>" as its first line of standard output (and writes \
            it to <run>/endpoint), waits for cluster.workers workers, trains per cluster.mode, evaluates at each \
            epoch's end, and writes the run directory (as pstrain train does, with workers, mode, bytes_sent and \
            max_staleness in summary.json). Usually started by `pstrain launch`.

            Checkpoints go to <run>/checkpoints every train.checkpoint_every steps or train.checkpoint_seconds \
            seconds, at the end, and on SIGINT/SIGTERM, which then stop the server with status 0 (4 when \
            `pstrain launch` started it: the launch ends too, with the command that continues it). A server \
            restarted with `--resume DIR` binds the same endpoint (waiting up to 10 s while the one it \
            replaces still holds it) and continues from the latest checkpoint; its workers register again by \
            themselves. Shard 0 of several exits with status 5, writing no checkpoint, when another shard comes \
            back without its state (restarted on its own): started again with --resume (or --resume-if-exists), \
            it takes every shard back to the latest checkpoint. It exits with status 78 when it cannot use its \
            config or data, which a restart would not mend, and with 3 when the job failed.

            With --curve-secret and --curve-clients (keys from `pstrain keygen`), traffic is encrypted with \
            CurveZMQ and only workers whose public key is in the --curve-clients directory get through. Off \
            loopback, a server without keys refuses to start unless --insecure is given.

            With --metrics, it serves Prometheus metrics at http://HOST:PORT/metrics (steps, applied updates, \
            rejected messages by reason, staleness, bytes, workers by state, optimizer step time, checkpoint \
            age) and its health at /healthz (200 while serving; 503 once stopped, failed, or stalled for 30 s), \
            and prints "metrics on <url>" after the endpoint line.

            With cluster.servers: S > 1, the parameters are split over S shards, each a `pstrain server --shard K` \
            holding a contiguous slice and its optimizer state. Start shards 1 to S-1 first; shard 0 connects to \
            them (--other-shards, or the engine's list), assembles the whole model to evaluate it, and writes the \
            run directory; every worker connects to all of them. With CurveZMQ every shard uses the same key \
            pair, whose public key must also be among --curve-clients (shard 0 is the other shards' client; only a \
            client holding that pair may join as a shard, or read or set a shard's state). \
            Shard 0 writes the job's checkpoints, each the whole model collected from every shard (on SIGTERM, \
            once the others, stopped too, have handed over their parts; they wait up to 3 s for it). To resume one, start shards 1 to S-1 as before (new, or still running) and \
            shard 0 with --resume: it hands each its slice of the checkpoint, and workers register again. Shards \
            other than 0 write nothing into --run-dir, which they may share with shard 0. Under ps-lite's variables, which name only \
            the root address, the server that can bind it is shard 0 and the others join it there (their own \
            address: DMLC_NODE_HOST, else DMLC_INTERFACE's IPv4 address, else the one their route to the root \
            leaves from), taking indexes in the order \
            they join.

            A worker silent for cluster.heartbeat_timeout seconds is lost: with cluster.on_worker_failure: \
            continue, training goes on without it (summary.json lists it under lost_workers); with wait, sync \
            steps wait for a worker of its rank, up to cluster.replacement_timeout seconds.
            """)

    @OptionGroup var configuration: ConfigArguments

    @Option(name: .long, help: ArgumentHelp("Address to serve, IPv4 or IPv6 (tcp://[::1]:*); * picks a free port (default: the engine's address for this shard, see `pstrain env`; with --resume the run's own; else tcp://127.0.0.1:*).",
                                            valueName: "endpoint"))
    var bind: String?

    @Option(name: .long, help: ArgumentHelp("This server's shard, 0 to cluster.servers - 1 (default: the engine's, else 0).", valueName: "n"))
    var shard: Int?

    @Option(name: .long, help: ArgumentHelp("Shard 0 of several: the endpoints of shards 1, 2, ..., in order, comma-separated (default: the engine's list); other shards ignore it.",
                                            valueName: "endpoints"))
    var otherShards: String?

    @Flag(name: .long, help: "Allow binding to a non-loopback address without CurveZMQ: unencrypted, and anyone who reaches the port may join.")
    var insecure = false

    @OptionGroup var curve: CurveServerArguments

    @OptionGroup var output: RunDirectoryArgument

    @Option(name: .long, help: ArgumentHelp("Continue the run in this directory from its latest checkpoint, with its own config.", valueName: "dir"))
    var resume: String?

    @Flag(name: .customLong("resume-if-exists"),
          help: "With --run-dir: start the job there, or continue it as --resume does if a run is there already (the same command for a server's first start and its restarts by Kubernetes, Slurm or systemd); a job that completed there already ends at once, with status 0. Shards other than 0 start afresh either way; shard 0 restores them.")
    var resumeIfExists = false

    @OptionGroup var monitoring: MetricsArgument

    @Flag(name: .long, help: "Print only the final summary.")
    var quiet = false

    func validate() throws {
        try EndpointArgument.check(bind, flag: "--bind")
        try EndpointArgument.check(otherShards, flag: "--other-shards")
        if insecure && curve.curveSecret != nil {
            throw ValidationError("--insecure and --curve-secret contradict each other: with keys, traffic is encrypted; drop --insecure")
        }
        if resumeIfExists && (resume != nil || output.runDir == nil) {
            throw ValidationError(resume != nil ? "--resume-if-exists goes with --run-dir, not --resume: it resumes only when the run is there already"
                                  : "--resume-if-exists needs --run-dir: the directory to start the job in, or to continue it from")
        }
        if resume != nil && (configuration.config != nil || !configuration.overrides.isEmpty || output.runDir != nil) {
            throw ValidationError("--resume continues a run with its own config.yaml, in its own directory: "
                                  + "drop --config, --run-dir and overrides (workers started with another config would be refused)")
        }
    }

    func run() throws {
        LaunchedChild.followParent()
        do {
            let resolved: RunConfig
            var checkpoint: TrainingCheckpoint?
            let cluster = try ClusterResolution(role: .server)
            var shardIndex = cluster.shard(flag: shard)
            var address = cluster.bindAddress(flag: bind)
            // ps-lite's variables name only the root address: which shard this is, shard 0 finds out by binding it.
            let root = cluster.spec?.servers?.value.first
            let discovering = shard == nil && cluster.spec?.discoversShards == true && root != nil
            if discovering, let root {
                let placed = try ShardDiscovery.place(root: root, nodeHost: cluster.spec?.nodeHost?.value, interface: cluster.spec?.nodeInterface?.value)
                address = placed.isRoot ? placed.bind : bind ?? placed.bind
                shardIndex = placed.isRoot ? 0 : -1 // another shard learns its index from shard 0
            }
            // Only shard 0 writes the run, so only shard 0 finds one to continue.
            let resume = resume ?? output.runDir.flatMap { dir in
                resumeIfExists && shardIndex == 0 && FileManager.default.fileExists(atPath: dir + "/config.yaml") ? dir : nil
            }
            let resumed = try resume.map { try RunDirectory(resuming: $0) }
            func givenConfig() throws -> RunConfig { try configuration.load(extra: cluster.configOverrides(configuration)) }
            if let resumed {
                resolved = try ConfigLoader.load(path: resumed.url.appendingPathComponent("config.yaml").path, ofRunDirectory: true)
                if bind == nil && !discovering, let recorded = resumed.recordedEndpoint { address = recorded }
                if resumeIfExists, ConfigLoader.yaml(try givenConfig()) != ConfigLoader.yaml(resolved) {
                    printError("pstrain server: warning: \(resumed.url.path) holds a run of another config than the one given; continuing it "
                               + "with its own config.yaml")
                }
            } else {
                resolved = try givenConfig()
            }
            let prepared = try PreparedRun(config: resolved)
            try prepared.checkShards(workers: resolved.cluster.workers)
            if let note = prepared.batchLargerThanShardNote(workers: resolved.cluster.workers) { printError("pstrain server: note: " + note) }
            let servers = resolved.cluster.servers
            if resume != nil && shardIndex != 0 {
                throw ValidationError("only shard 0 resumes a sharded job: start shard \(shardIndex < 0 ? "1..." : "\(shardIndex)") without --resume "
                                      + "(with the job's config, \(resume!)/config.yaml); shard 0 hands it its slice of the checkpoint")
            }
            var linkAddresses = discovering ? [] : try cluster.otherShards(flag: otherShards, shard: shardIndex, servers: servers)
            if let resume, let resumed {
                checkpoint = try ParameterServer.latestCheckpoint(of: prepared, in: resumed)
                if checkpoint == nil && !quiet { printError("pstrain server: \(resume) has no checkpoint yet: starting its job from step 0") }
                // An engine restarts a server after the end too (a StatefulSet's pod, a systemd unit at the next boot):
                // its workers are gone, so waiting for them would only fail after cluster.replacement_timeout.
                if resumeIfExists, let step = checkpoint?.step, let summary = resumed.completedSummary(atStep: step) {
                    printError("pstrain server: the job in \(resume) completed at step \(step); nothing is left to do")
                    print(SummaryText.render(summary, directory: resumed.url.path))
                    return
                }
            }
            let curveKeys = try curve.load()
            try Endpoint.checkBinding(address, insecure: insecure, encrypted: curveKeys != nil)
            // Its peers: the workers, and the other shards (shard 0's links to them, or shard 0's to this one).
            let context = try ZMQContext(ioThreads: ZMQServerTransport.ioThreads(connections: resolved.cluster.workers + servers - 1))
            func open(_ address: String) throws -> ZMQServerTransport {
                try ZMQServerTransport(context: context, bind: address, maxMessageBytes: resolved.cluster.maxMessageMb << 20, curve: curveKeys,
                                       log: printError)
            }
            let transport: ZMQServerTransport
            do {
                transport = try open(address)
            } catch let error as ZMQError where resumed != nil && !discovering && error.errno == EADDRINUSE {
                // The server this one replaces may still be stopping and hold the port: `launch ssh` restarting it on
                // another host only ends its ssh session, and it takes a few seconds to stop.
                printError("pstrain server: \(address) is still in use; trying again for up to 10 s")
                transport = try retryWhileInUse(seconds: 10) { try open(address) }
            } catch let error as ZMQError where discovering && shardIndex == 0 && resumed == nil && error.errno == EADDRINUSE {
                // Another server of the job took the root address since this one found it free: this is another shard.
                address = try bind ?? ShardDiscovery.place(root: root!, nodeHost: cluster.spec?.nodeHost?.value, interface: cluster.spec?.nodeInterface?.value).bind
                shardIndex = -1
                transport = try open(address)
            }
            defer { transport.close() }
            // Only shard 0 writes the run; another shard may share its directory, or have none.
            let directory = try resumed ?? (shardIndex == 0 ? RunDirectory(path: output.runDir)
                : RunDirectory(sharing: output.runDir ?? FileManager.default.temporaryDirectory.path))
            if let note = Endpoint.describe(transport.endpoint, curve: curveKeys) { printError(note) }
            // Shard 0 speaks for the job: `pstrain status` and `--resume` find it through this file.
            if shardIndex == 0 { try directory.recordEndpoint(transport.endpoint) }
            let endpoint = try monitoring.start(MonitoringEndpoint.init(serverAt:))
            defer { endpoint?.close() }
            print("listening on \(transport.endpoint)")
            if let endpoint { print("metrics on http://\(endpoint.address)/metrics") }
            fflush(nil) // the launcher reads these lines through a pipe: send them now
            // Shards talk to each other as clients with the shards' own key pair.
            let shardKeys = curveKeys.map { CurveClientKeys(serverKey: $0.keys.publicKey, keys: $0.keys) }
            let maxMessageBytes = resolved.cluster.maxMessageMb << 20
            var serving: ServerTransport = transport
            if discovering, let root {
                if shardIndex == 0 {
                    let gathered = try ShardRendezvous.gather(on: transport, jobID: prepared.jobID, shards: servers,
                                                              timeout: resolved.cluster.serverTimeout, maxPayloadBytes: maxMessageBytes, log: printError)
                    linkAddresses = gathered.endpoints
                    serving = ReplayingServerTransport(transport, replaying: gathered.held)
                } else {
                    let link = try ZMQClientTransport(context: context, connect: root, maxMessageBytes: maxMessageBytes,
                                                      reconnectMax: resolved.cluster.reconnectMax, curve: shardKeys)
                    defer { link.close() }
                    shardIndex = try ShardRendezvous.join(through: link, endpoint: transport.endpoint, jobID: prepared.jobID,
                                                          timeout: resolved.cluster.serverTimeout, maxPayloadBytes: maxMessageBytes)
                    printError("pstrain server: shard \(shardIndex) of \(servers), given by shard 0 at \(root)")
                }
            }
            let linkTransports = try linkAddresses.map { address in
                try ZMQClientTransport(context: context, connect: address, maxMessageBytes: maxMessageBytes,
                                       reconnectMax: resolved.cluster.reconnectMax, curve: shardKeys)
            }
            defer { linkTransports.forEach { $0.close() } }
            if resolved.cluster.sharedMemory { serving = SharedPayloadServerTransport(serving) }
            let links = linkTransports.enumerated().map { ShardLink(shard: $0.offset + 1, transport: $0.element, endpoint: linkAddresses[$0.offset]) }
            let server = try ParameterServer(run: prepared, transport: serving, directory: directory, shard: shardIndex, links: links,
                                             quiet: quiet, monitoring: endpoint?.metrics ?? ServerMetrics(), log: printError)
            if let checkpoint { try server.resume(from: checkpoint) }
            if resume != nil { try server.restoreOtherShards() }
            let stop = server.stop
            let trap = SignalTrap { signal in stop.request("signal \(signal)") }
            do {
                if let summary = try withExtendedLifetime(trap, { try server.serve() }) {
                    print(SummaryText.render(summary, directory: directory.url.path))
                } else {
                    print("shard \(shardIndex) of \(servers): done at step \(server.version); shard 0 wrote the run")
                }
            } catch let stopped as ServerStopped {
                guard !LaunchedChild.isLaunched else {
                    // The launcher tells how to continue the whole launch, and must not take this for the job's end.
                    printError("pstrain server: \(stopped)")
                    throw ExitCode(ChildExitStatus.stoppedBeforeDone)
                }
                printError("pstrain server: \(stopped); continue with: " + (shardIndex == 0 ? "pstrain server --resume \(directory.url.path)"
                    : "this shard started again as before, then shard 0 with --resume on its run directory"))
            }
        } catch let lost as ShardLostItsState {
            // Launched, the launcher restarts it; an engine restarts it with --resume-if-exists, as deploy/ does.
            let again = resumeIfExists ? " (this command does that: it has --resume-if-exists)"
                : "; continue with: pstrain server --resume \(resume ?? output.runDir ?? "RUN_DIR") and the same --other-shards"
            printError("pstrain server: \(lost)" + (LaunchedChild.isLaunched ? "" : again))
            throw ExitCode(ChildExitStatus.shardLostItsState)
        } catch let failure where ChildExitStatus.failsAgainOnRestart(failure) {
            printError("pstrain server: error: \(configuration.locatingData(failure))")
            throw ExitCode(ChildExitStatus.unusableInput)
        } catch let failure as ServerFailure {
            printError("pstrain server: error: \(failure)")
            throw ExitCode(ChildExitStatus.jobFailed)
        } catch let status as ExitCode {
            throw status
        } catch {
            printError("pstrain server: error: \(error)")
            throw ExitCode.failure
        }
    }
}

/// Rules for the addresses roles bind to.
enum Endpoint {
    /// The host part of a tcp endpoint, an IPv6 address with its brackets; nil for other transports (ipc,
    /// inproc), which stay on this host.
    static func tcpHost(_ endpoint: String) -> String? { ZMQSocket.tcpHost(of: endpoint) }

    static func isLoopback(_ host: String) -> Bool { host.hasPrefix("127.") || host == "localhost" || host == "[::1]" }

    /// Binding off loopback without CurveZMQ is refused unless `insecure`, which is then said loudly.
    static func checkBinding(_ endpoint: String, insecure: Bool, encrypted: Bool) throws {
        guard let host = tcpHost(endpoint), !isLoopback(host), !encrypted else { return }
        if insecure {
            printError("pstrain: WARNING: serving \(endpoint) without encryption or authentication (--insecure): "
                       + "anyone who reaches the port can read the model and send gradients")
            return
        }
        throw ValidationError("""
            refusing to bind \(endpoint): off loopback, traffic would be neither encrypted nor authenticated.
              hint: give --curve-secret and --curve-clients (keys from `pstrain keygen`), or --insecure on a trusted \
            network, or bind tcp://127.0.0.1:*
            """)
    }

    /// What a server reachable from other hosts says of itself: where it serves, and how it is protected.
    static func describe(_ endpoint: String, curve: CurveServerKeys?) -> String? {
        guard let host = tcpHost(endpoint), !isLoopback(host) else { return nil }
        let port = endpoint.split(separator: ":").last ?? "?"
        let interface = host == "0.0.0.0" || host == "[::]" || host == "*" ? "every interface" : "interface \(host)"
        let protection = curve.map { "CurveZMQ, \($0.allowedClients.count) allowed client key(s)" } ?? "NO encryption or authentication"
        return "pstrain server: serving \(interface), port \(port): \(protection)"
    }
}

/// Calls `bind` until it does not fail with "address in use", for up to `seconds`, trying every 0.2 s.
private func retryWhileInUse<T>(seconds: TimeInterval, _ bind: () throws -> T) throws -> T {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        do {
            return try bind()
        } catch let error as ZMQError where error.errno == EADDRINUSE && Date() < deadline {
            usleep(200_000)
        }
    }
}
