import Glibc
import ArgumentParser
import Config
import Data
import Foundation
import Monitoring
import Roles
import Training
import Transport
import ZMQTransport
import ZeroMQ

/// `pstrain worker`: computes gradients on its shard for a server.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: read this rank's shard, compute gradients, push them to the server.",
        discussion: """
            Start it with the same config and overrides as the server: a worker whose config differs is refused. \
            Usually started by `pstrain launch`, or by an engine whose environment names the server and the rank \
            (TF_CONFIG, DMLC_*, SLURM_*, JOB_COMPLETION_INDEX; `pstrain env` shows what it found).

            It asks the server what the whole data set is (its rows, widths, classes and scaling statistics, which \
            fix the model), and once the server has given it its rank reads only that shard's rows of the training \
            file (data.shard: contiguous or strided); the server reads the whole file and checks every row. \
            Synthetic data it generates whole and keeps its shard.

            On the server's host it passes gradients and weights through shared memory, the socket carrying only \
            headers; elsewhere, or with cluster.shared_memory=false, everything goes over the connection. The \
            server's log says which, for each worker.

            It heartbeats while it computes, however long a step takes; one gradient that takes longer than \
            cluster.step_timeout (600 s; 0: no limit) is taken for a hang, and the worker exits with status 1, \
            for its launcher to restart it. It exits with status 78 when it cannot use its config or data (a \
            file missing, or in another form), and with 3 when the server refused it or the job failed: neither \
            is worth a restart, and `pstrain launch` does not restart it then.

            With --metrics, it serves Prometheus metrics at http://HOST:PORT/metrics (steps, samples, the last \
            batch's loss, and histograms of each step's compute time and of its exchange with the server: the \
            push, the server's wait and update, the weights' way back) and its health at /healthz, and prints \
            "metrics on <url>".
            """)

    @OptionGroup var configuration: ConfigArguments

    @Option(name: .long, help: ArgumentHelp("The server's endpoint, as it printed it; with several shards all of theirs, shard 0 first, comma-separated (default: the engine's, see `pstrain env`).",
                                            valueName: "endpoints"))
    var connect: String?

    @Option(name: .long, help: ArgumentHelp("This worker's rank, 0 to cluster.workers - 1 (default: the engine's, else the server picks).", valueName: "n"))
    var rank: Int?

    @OptionGroup var curve: CurveClientArguments

    @OptionGroup var monitoring: MetricsArgument

    func validate() throws {
        try EndpointArgument.check(connect, flag: "--connect")
    }

    func run() throws {
        LaunchedChild.followParent()
        do {
            let cluster = try ClusterResolution(role: .worker)
            let resolved = try configuration.load(extra: cluster.configOverrides(configuration))
            // A file the worker cannot open fails it now, not once it has joined the job.
            try resolved.data.trainingFiles.forEach(checkReadable)
            let context = try ZMQContext()
            var addresses = try cluster.connectAddresses(flag: connect)
            let keys = try curve.load()
            func open(_ address: String) throws -> ZMQClientTransport {
                try ZMQClientTransport(context: context, connect: address, maxMessageBytes: resolved.cluster.maxMessageMb << 20,
                                       reconnectMax: resolved.cluster.reconnectMax, curve: keys)
            }
            var transports: [ZMQClientTransport] = []
            defer { transports.forEach { $0.close() } }
            if connect == nil && cluster.spec?.discoversShards == true && resolved.cluster.servers > 1 {
                // ps-lite's variables name shard 0 only; it knows the others once they have all joined it.
                transports.append(try open(addresses[0]))
                addresses += try ShardRendezvous.shardEndpoints(from: transports[0], jobID: resolved.jobID, servers: resolved.cluster.servers,
                                                          timeout: resolved.cluster.serverTimeout,
                                                          maxPayloadBytes: resolved.cluster.maxMessageMb << 20)
            }
            guard addresses.count == resolved.cluster.servers else {
                throw ValidationError("--connect names \(addresses.count) server endpoint(s); cluster.servers is \(resolved.cluster.servers): "
                                      + "list every shard's endpoint, shard 0 first, separated by commas")
            }
            transports += try addresses.dropFirst(transports.count).map(open)
            // Handed to the worker, which holds only its shard once it has its rank: no copy may stay behind here.
            // Data it generates it generates whole; files it reads by shard, knowing from its server what the whole
            // set is.
            var prepared: PreparedRun? = resolved.data.format == .synthetic ? try PreparedRun(config: resolved)
                : try PreparedRun(config: resolved, facts: DataFactsRequest.ask(transports[0], jobID: resolved.jobID,
                                                                              timeout: resolved.cluster.serverTimeout,
                                                                              maxPayloadBytes: resolved.cluster.maxMessageMb << 20))
            let endpoint = try monitoring.start(MonitoringEndpoint.init(workerAt:))
            defer { endpoint?.close() }
            if let endpoint {
                print("metrics on http://\(endpoint.address)/metrics")
                fflush(nil)
            }
            let clients = sharedPayloadTransports(transports, run: prepared!)
            let trap = SignalTrap { _ in Glibc.exit(143) }
            let report = try withExtendedLifetime(trap) {
                try Worker(run: prepared.take()!, transports: clients, rank: cluster.rank(flag: rank), overrun: { message in
                    // The computation's thread is stuck: end the process from here, without the clean-up it could hang in.
                    printError("pstrain worker: error: \(message)")
                    Glibc._exit(ExitCode.failure.rawValue)
                }, monitoring: endpoint?.metrics ?? WorkerMetrics(), log: printError).work()
            }
            print("worker \(report.rank): \(report.steps) steps, \(report.samples) samples, sent \(report.traffic.bytesSent) bytes, received \(report.traffic.bytesReceived) bytes")
        } catch let error where ChildExitStatus.failsAgainOnRestart(error) {
            printError("pstrain worker: error: \(configuration.locatingData(error))")
            throw ExitCode(ChildExitStatus.unusableInput)
        } catch let error where (error as? WorkerError)?.restartable == false || error is DataFactsError {
            printError("pstrain worker: error: \(error)")
            throw ExitCode(ChildExitStatus.jobFailed)
        } catch {
            printError("pstrain worker: error: \(error)")
            throw ExitCode.failure
        }
    }

    /// `transports` as they go to a worker: each offering its server a shared memory segment unless
    /// `cluster.shared_memory` is off, with slots for the largest float32 slice a shard holds.
    func sharedPayloadTransports(_ transports: [ZMQClientTransport], run: PreparedRun) -> [ClientTransport] {
        guard run.config.cluster.sharedMemory,
              let largest = (try? ShardPlan(parameterCount: run.spec.layout.count, shards: transports.count))?.ranges.map(\.count).max() else {
            return transports
        }
        let shared = transports.map { SharedPayloadClientTransport($0, slotBytes: 4 * largest) }
        if let reason = shared.first?.unavailableReason { printError("pstrain worker: payloads go over the connection: \(reason)") }
        return shared
    }
}
