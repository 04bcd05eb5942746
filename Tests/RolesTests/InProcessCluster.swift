import Config
import Foundation
import Roles
import Testing
import Training
import Transport

/// A server and its workers in one process over the in-memory transport: the server on the calling thread,
/// each worker on a thread of its own. Every worker is waited for, with a time limit, and its failure reported.
struct InProcessCluster {
    final class Failures: @unchecked Sendable {
        // @unchecked: guarded by `lock`.
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ text: String) { lock.withLock { items.append(text) } }
        var all: [String] { lock.withLock { items } }
    }

    struct Outcome {
        var summary: TrainingSummary
        var parameters: [Float]
        var rejects: [String: Int]
        var directory: String
    }

    static func run(_ config: RunConfig, timeout: TimeInterval = 120, monitoring: ServerMetrics = ServerMetrics()) throws -> Outcome {
        let prepared = try PreparedRun(config: config)
        let network = InMemoryNetwork()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-roles-\(UUID().uuidString)").path
        let server = ParameterServer(run: prepared, transport: network, directory: try RunDirectory(path: path), quiet: true,
                                     monitoring: monitoring, log: { _ in })
        let failures = Failures()
        let stop = server.stop
        let finished = DispatchGroup()
        for rank in 0 ..< config.cluster.workers {
            finished.enter()
            let client = network.connect()
            Thread {
                defer { finished.leave() }
                do { _ = try Worker(run: prepared, transport: client, rank: rank, log: { _ in }).work() } catch {
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
        do { summary = try server.serve() } catch {
            for failure in failures.all { Issue.record(Comment(rawValue: failure)) }
            throw error
        }
        if finished.wait(timeout: .now() + timeout) == .timedOut { Issue.record("workers did not finish within \(timeout) s") }
        for failure in failures.all { Issue.record(Comment(rawValue: failure)) }
        return Outcome(summary: summary, parameters: server.currentParameters, rejects: server.rejectedByReason, directory: path)
    }

    /// The same config trained by `pstrain train`'s single-process loop.
    static func single(_ config: RunConfig) throws -> (TrainingSummary, [Float]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-single-\(UUID().uuidString)").path
        let trainer = LocalTrainer(run: try PreparedRun(config: config), directory: try RunDirectory(path: path), quiet: true)
        let summary = try trainer.train()
        return (summary, trainer.parameters)
    }
}
