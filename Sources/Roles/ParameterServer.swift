import Config
import Data
import Foundation
import Models
import Numerics
import Optimizers
import Training
import Transport
import Wire

/// `serve()` ended before the job was done, because its `stop` was requested.
public struct ServerStopped: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "server stopped before the job was done: \(reason)" }
}

/// The parameter server: holds the parameters and the optimizer state, aggregates gradients from the workers
/// according to the consistency mode, evaluates at epoch ends, and writes the run directory.
///
/// Runs on the thread that calls `run()`, which alone uses the transport (libzmq sockets are single-threaded).
public final class ParameterServer {
    public let run: PreparedRun
    let transport: ServerTransport
    let directory: RunDirectory
    let log: (String) -> Void
    let cluster: ClusterConfig
    let jobID: UInt64
    let layoutCount: Int
    let maxPayloadBytes: Int

    /// The parameters, kept in the frame that is sent as the weights, so a reply copies nothing. While a transport
    /// still holds the frame (sending it), an update goes to a fresh copy instead: see `weightsForUpdate()`.
    var weights: OutboundFrame
    var spareWeights: OutboundFrame?
    var optimizer: Optimizer
    let schedule: LearningRateSchedule
    let network: Network<Float>
    /// The number of updates applied so far; workers compute on a version and push against it.
    public internal(set) var version: UInt64 = 0

    var slots: [WorkerSlot?]
    var rankOfPeer: [PeerID: Int] = [:]
    /// Per rank: the gradient pushed and not yet applied (sync: for this version; bounded: queued).
    var gradients: [[Float]]
    var pending: [PendingPush?]
    var sum: [Float]

    let stepsPerEpoch: [Int]
    let totalUpdates: Int
    var samplesApplied = 0
    var epochsEvaluated = 0
    var maxStaleness = 0
    var rejects: [String: Int] = [:]
    var reportedPeers: Set<PeerID> = []
    var metrics: MetricsLog?
    var interval = IntervalStats()
    /// When every worker had registered: training time counts from here.
    var startTime: Date?
    /// When `serve()` began: metrics' wall_seconds count from here, so they are never negative.
    var serveStart = Date()
    var evaluationSeconds = 0.0
    let progress: ProgressReporter
    /// Stops `serve()` within 250 ms when requested, from any thread.
    public let stop: StopRequest

    struct WorkerSlot {
        var peer: PeerID
        var lastSeen: Date
        /// The version of the weights this worker holds, so its next gradient's base.
        var heldVersion: UInt64
        var done = false
        var reportedSilent = false
    }

    struct PendingPush {
        var base: UInt64
        var batch: Int
        var loss: Double
        var hasGradient: Bool
        /// The gradient's sum of squares, taken while copying it in.
        var sumOfSquares: Double
    }

    struct IntervalStats {
        var updates = 0, samples = 0, lossSum = 0.0, normSum = 0.0, maxStaleness = 0
        var start = Date()
    }

    public init(run: PreparedRun, transport: ServerTransport, directory: RunDirectory, quiet: Bool = false,
                stop: StopRequest = StopRequest(), log: @escaping (String) -> Void) {
        self.run = run
        self.stop = stop
        self.transport = transport
        self.directory = directory
        self.log = log
        cluster = run.config.cluster
        jobID = run.jobID
        layoutCount = run.spec.layout.count
        maxPayloadBytes = cluster.maxMessageMb << 20
        weights = OutboundFrame(count: 4 * layoutCount)
        weights.withFloats {
            run.config.model.initializer.fill($0, layout: run.spec.layout, seed: run.config.train.seed, scale: run.config.model.initScale)
        }
        optimizer = Optimizer(settings: run.optimizerSettings, count: layoutCount)
        network = Network<Float>(spec: run.spec)
        let n = cluster.workers
        slots = Array(repeating: nil, count: n)
        gradients = Array(repeating: [Float](repeating: 0, count: layoutCount), count: n)
        pending = Array(repeating: nil, count: n)
        sum = [Float](repeating: 0, count: layoutCount)
        stepsPerEpoch = (0 ..< n).map { run.stepsPerEpoch(rows: run.shardRows(rank: $0, workers: n).count) }
        // Sync runs in lockstep, so every worker takes as many steps as the largest shard needs.
        totalUpdates = run.config.train.epochs * (cluster.mode == .sync ? stepsPerEpoch.max()! : stepsPerEpoch.reduce(0, +))
        schedule = run.schedule(totalSteps: totalUpdates)
        progress = ProgressReporter(totalSteps: totalUpdates, quiet: quiet)
    }

    /// Serves until every worker has finished, then evaluates, writes `summary.json`, and shuts the workers down.
    public func serve() throws -> TrainingSummary {
        let wallStart = Date()
        serveStart = wallStart
        BLAS.setThreadCount(run.config.train.blasThreads)
        try directory.writeConfig(run.config)
        let metrics = try MetricsLog(directory: directory.url)
        try metrics.addTable("metrics", columns: ["step", "epoch", "wall_seconds", "loss", "learning_rate", "grad_norm",
                                                   "samples_per_second", "max_staleness"])
        try metrics.addTable("evaluation", columns: ["step", "epoch", "wall_seconds", "test_loss", "test_accuracy", "test_mse", "test_mae"])
        self.metrics = metrics
        let heartbeatCheck = Int(min(cluster.heartbeatInterval, 0.25) * 1000)
        while !allDone {
            if let reason = stop.requested { throw ServerStopped(reason: reason) }
            if let (peer, frames) = try transport.receive(timeoutMilliseconds: heartbeatCheck) {
                try handle(peer, frames)
            }
            checkHeartbeats()
        }
        let trainSeconds = Date().timeIntervalSince(startTime ?? wallStart) - evaluationSeconds
        let trainEval = evaluate(run.train)
        let testEval = run.test.map(evaluate)
        for slot in slots.compactMap({ $0 }) {
            try transport.send(frames(Header(kind: .shutdown, jobID: jobID, sender: -1, version: version)), to: slot.peer)
        }
        let traffic = transport.traffic
        let summary = TrainingSummary(
            status: "completed", model: run.modelDescription, parameters: layoutCount,
            trainLoss: trainEval.loss, trainAccuracy: trainEval.accuracy,
            testLoss: testEval?.loss, testAccuracy: testEval?.accuracy, testMse: testEval?.meanSquaredError, testMae: testEval?.meanAbsoluteError,
            steps: Int(version), epochs: run.config.train.epochs, samples: samplesApplied,
            wallSeconds: Date().timeIntervalSince(wallStart), trainSeconds: trainSeconds,
            samplesPerSecond: Double(samplesApplied) / max(trainSeconds, 1e-9),
            finalLearningRate: schedule.rate(atStep: max(Int(version) - 1, 0)),
            workers: cluster.workers, mode: cluster.mode.rawValue, bytesSent: traffic.bytesSent, bytesReceived: traffic.bytesReceived,
            maxStaleness: maxStaleness, rejectedMessages: rejects.values.reduce(0, +))
        try directory.writeSummary(summary)
        if !rejects.isEmpty { log("rejected messages by reason: \(rejects.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))") }
        return summary
    }

    /// Rejected messages so far, by reason.
    public var rejectedByReason: [String: Int] { rejects }

    var allDone: Bool { slots.allSatisfy { $0?.done == true } }

    /// The current parameters (for tests and checkpoints).
    public var currentParameters: [Float] { weights.withFloats { Array($0) } }
}
