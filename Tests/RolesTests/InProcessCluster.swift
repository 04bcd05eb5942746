import Config
import Foundation
import Roles
import Testing
import Training
import Transport

/// A server and its workers in one process over the in-memory transport: the server on the calling thread,
/// each worker on a thread of its own. Every worker is waited for, with a time limit, and its failure reported.
struct InProcessCluster {
    /// Lines gathered from several threads: the workers' failures, shard 0's log.
    final class Lines: @unchecked Sendable {
        // @unchecked: guarded by `lock`.
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ text: String) { lock.withLock { items.append(text) } }
        var all: [String] { lock.withLock { items } }
    }

    /// The slices the shards other than 0 ended with, by shard.
    final class Slices: @unchecked Sendable {
        // @unchecked: guarded by `lock`.
        private let lock = NSLock()
        private var items: [Int: [Float]] = [:]
        func set(_ shard: Int, _ values: [Float]) { lock.withLock { items[shard] = values } }
        subscript(shard: Int) -> [Float]? { lock.withLock { items[shard] } }
    }

    struct Outcome {
        var summary: TrainingSummary
        var parameters: [Float]
        var rejects: [String: Int]
        var directory: String
        /// What every worker sent and received, all connections together.
        var workerBytesSent: Int
        var workerBytesReceived: Int
        /// Shard 0's log.
        var serverLog: [String]
    }

    /// Trains `config` with `cluster.servers` shards: shard 0 on the calling thread, the others on threads of
    /// their own; from `checkpoint` when given, as `pstrain server --resume` does. `parameters` is the whole model,
    /// assembled from every shard's slice. Worker `rank` records into `workerMonitoring[rank]` when there is one.
    /// With `sharedMemory`, every transport is wrapped as `pstrain server` and `pstrain worker` wrap theirs, so
    /// large payloads go through shared memory segments.
    static func run(_ config: RunConfig, resuming checkpoint: TrainingCheckpoint? = nil, timeout: TimeInterval = 120,
                    monitoring: ServerMetrics = ServerMetrics(), workerMonitoring: [WorkerMetrics] = [],
                    sharedMemory: Bool = false) throws -> Outcome {
        let prepared = try PreparedRun(config: config)
        let inMemory = (0 ..< config.cluster.servers).map { _ in InMemoryNetwork() }
        let networks: [ServerTransport] = sharedMemory ? inMemory.map(SharedPayloadServerTransport.init) : inMemory
        let slotBytes = 4 * (try ShardPlan(parameterCount: prepared.spec.layout.count, shards: inMemory.count)).ranges.map(\.count).max()!
        func connect(_ shard: Int) -> ClientTransport {
            sharedMemory ? SharedPayloadClientTransport(inMemory[shard].connect(), slotBytes: slotBytes) : inMemory[shard].connect()
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-roles-\(UUID().uuidString)").path
        let directory = try RunDirectory(path: path)
        let serverLog = Lines()
        let links = networks.indices.dropFirst().map { ShardLink(shard: $0, transport: inMemory[$0].connect(), endpoint: "inproc://shard-\($0)") }
        let server = try ParameterServer(run: prepared, transport: networks[0], directory: directory, links: links, quiet: true,
                                         monitoring: monitoring, log: serverLog.add)
        let failures = Lines()
        let stop = server.stop
        let finished = DispatchGroup()
        let slices = Slices()
        for shard in networks.indices.dropFirst() {
            finished.enter()
            nonisolated(unsafe) let network = networks[shard] // used by that thread alone
            Thread {
                defer { finished.leave() }
                do {
                    let server = try ParameterServer(run: prepared, transport: network, directory: directory, shard: shard, quiet: true, stop: stop,
                                                     log: { _ in })
                    _ = try server.serve()
                    slices.set(shard, server.currentParameters)
                } catch {
                    failures.add("shard \(shard): \(error)")
                    stop.request("shard \(shard) failed: \(error)")
                }
            }.start()
        }
        if let checkpoint {
            do {
                try server.resume(from: checkpoint)
                try server.restoreOtherShards()
            } catch {
                stop.request("resuming failed: \(error)")
                throw error
            }
        }
        var workerClients: [ClientTransport] = []
        for rank in 0 ..< config.cluster.workers {
            finished.enter()
            nonisolated(unsafe) let clients = networks.indices.map(connect) // used by that thread alone
            workerClients += clients
            let metrics = workerMonitoring.indices.contains(rank) ? workerMonitoring[rank] : WorkerMetrics()
            Thread {
                defer { finished.leave() }
                do { _ = try Worker(run: prepared, transports: clients, rank: rank, monitoring: metrics, log: { _ in }).work() } catch {
                    failures.add("worker \(rank): \(error)")
                    stop.request("worker \(rank) failed: \(error)")
                }
            }.start()
        }
        // The server runs here; a watchdog stops it if the whole run outlives its time limit.
        let watchdog = DispatchWorkItem { stop.request("time limit of \(timeout) s reached") }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        let summary: TrainingSummary
        do { summary = try #require(try server.serve(), "shard 0 returns the summary") } catch {
            for failure in failures.all { Issue.record(Comment(rawValue: failure)) }
            Issue.record(Comment(rawValue: "shard 0's log:\n" + serverLog.all.suffix(40).joined(separator: "\n")))
            throw error
        }
        if finished.wait(timeout: .now() + timeout) == .timedOut { Issue.record("workers and shards did not finish within \(timeout) s") }
        for failure in failures.all { Issue.record(Comment(rawValue: failure)) }
        let parameters = try networks.indices.dropFirst().reduce(server.currentParameters) { whole, shard in
            whole + (try #require(slices[shard], "shard \(shard) returned its slice"))
        }
        return Outcome(summary: summary, parameters: parameters, rejects: server.rejectedByReason, directory: path,
                       workerBytesSent: workerClients.reduce(0) { $0 + $1.traffic.bytesSent },
                       workerBytesReceived: workerClients.reduce(0) { $0 + $1.traffic.bytesReceived }, serverLog: serverLog.all)
    }

    /// The same config trained by `pstrain train`'s single-process loop.
    static func single(_ config: RunConfig) throws -> (TrainingSummary, [Float]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-single-\(UUID().uuidString)").path
        let trainer = LocalTrainer(run: try PreparedRun(config: config), directory: try RunDirectory(path: path), quiet: true)
        let summary = try trainer.train()
        return (summary, trainer.parameters)
    }
}
