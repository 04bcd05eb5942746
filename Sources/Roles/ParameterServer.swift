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
    /// The step of the checkpoint written on the way out, if one was.
    public var checkpointStep: Int?
    public var description: String {
        "server stopped before the job was done: \(reason)" + (checkpointStep.map { "; checkpoint written at step \($0)" } ?? "")
    }
}

/// The job cannot go on: a worker was lost and not replaced in time, or a policy says to stop.
public struct ServerFailure: Error, CustomStringConvertible {
    public var message: String
    public var hint: String?
    public var description: String { message + (hint.map { "\n  hint: \($0)" } ?? "") }
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
    /// The model's parameter count; this server holds `range` of them.
    let layoutCount: Int
    let maxPayloadBytes: Int
    /// This server's shard of `plan.shards` and the parameters it owns.
    public let shard: Int
    let plan: ShardPlan
    let range: Range<Int>
    /// Shard 0 of several: its links to the other shards, in shard order, through which it assembles the whole
    /// model to evaluate it and to write the final checkpoint. Empty otherwise.
    let links: [ShardLink]
    /// Per rank, with several shards: the whole gradient's sum of squares a `gradientNorm` announced for the next push.
    var announcedNorm: [Double?]
    /// Sync with several shards: this step's averaged gradient waits in `sum` for the workers' `normTotal`.
    var stepAwaitingNorm: (samples: Int, lossSum: Double)?
    /// A shard other than 0: shard 0's request for this shard's slice, answered once it can be.
    var snapshotRequest: (peer: PeerID, version: UInt64, scope: SnapshotScope)?
    /// A shard other than 0: shard 0's connection that took this shard's final slice, and gets its tally last.
    var finalSnapshotTaker: PeerID?
    var finalSnapshotServed: Bool { finalSnapshotTaker != nil }
    /// Asked to stop: since when. A shard other than 0 also notes whether shard 0 has since collected its part of
    /// the checkpoint written on the way out.
    var stoppingSince: Date?
    var stopSnapshotServed = false

    /// This server's slice of the parameters (all of them with one shard), kept in the frame that is sent as the weights, so a reply copies nothing. While a transport
    /// still holds the frame (sending it), an update goes to a fresh copy instead: see `weightsForUpdate()`.
    var weights: OutboundFrame
    var spareWeights: OutboundFrame?
    /// When the server last found no message waiting. A worker's silence is measured up to then, not up to now:
    /// while the server is busy (a long update, an evaluation) the heartbeats that came meanwhile still wait in
    /// the queue, and the worker is not silent.
    var queueDrainedAt = Date()
    /// With compression: where in the history of sent weights a worker sent them whole at `version` stands.
    var wholeWeights = WholeWeightsPoint()
    /// With compression: spare buffers for the encoded weight changes, reused from step to step.
    lazy var changeBuffers = ChangeBuffers(compression: cluster.compression, fraction: cluster.topkFraction, count: range.count)
    var optimizer: Optimizer
    let schedule: LearningRateSchedule
    let network: Network<Float>
    /// The number of updates applied so far; workers compute on a version and push against it.
    public internal(set) var version: UInt64 = 0

    var slots: [WorkerSlot?]
    var rankOfPeer: [PeerID: Int] = [:]
    /// Peers asking for a rank that a live worker holds: admitted if that worker is lost.
    var waitingToJoin: [Int: PeerID] = [:]
    /// The shared memory segments offered by the peers in `waitingToJoin`.
    var sharedPayloadOffers: [PeerID: SharedPayloadOffer] = [:]
    /// Per rank: the pushes consumed (applied, or dropped by policy). Async and bounded workers rejoin here.
    var stepsDone: [Int]
    var lostWorkers: [LostWorker] = []
    /// Since when this server, restarted into a job under way (resumed, or restored by shard 0, past step 0), has
    /// waited for the job's workers to register again; nil at a job's start, which waits for every worker without
    /// limit.
    var returnAwaitedSince: Date?
    /// Ranks that did not register again within `replacement_timeout` of the restart: lost, the job goes on without
    /// them until they do.
    var neverReturned: Set<Int> = []
    /// Sync: a non-finite gradient under `nan_policy: skip_step` drops the whole current step.
    var skipCurrentStep = false
    /// Per rank: the gradient pushed and not yet applied (sync: for this version; bounded: queued).
    var gradients: [[Float]]
    var pending: [PendingPush?]
    /// Per rank: the leading parts of its next push taken in so far (`PayloadParts`).
    var partialPushes: [PartialPush?]
    /// Per rank: how far the weights at a version went ahead in `weightsPart` messages; the answer sends the rest.
    var weightsSentAhead: [(version: UInt64, end: Int)?]
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
    /// The latest progress figures (mean loss and samples/s since the last metrics row), for `pstrain status`.
    var recentLoss: Double?
    var recentSamplesPerSecond: Double?
    /// When every worker had registered: training time counts from here.
    var startTime: Date?
    /// When `serve()` began: metrics' wall_seconds count from here, so they are never negative.
    var serveStart = Date()
    var evaluationSeconds = 0.0
    /// Time spent handling messages (the updates, evaluations and checkpoints they lead to included): what workers
    /// wait on. Against the uptime, how close the server is to being the job's bottleneck.
    var busyNanoseconds: UInt64 = 0
    /// Training time before this process started, for a server resumed from a checkpoint.
    var trainSecondsBefore = 0.0
    let progress: ProgressReporter
    let checkpoints: CheckpointStore
    var lastCheckpoint = Date()
    var lastCheckpointStep = -1
    /// Shard 0 of several: the other shards' steps as they answered its probes (`watchOtherShards`).
    var shardWatch: ShardWatch
    /// The checkpoint this server resumed from, if any, and how many logged steps after it are done again.
    var resumedFrom: TrainingCheckpoint?
    var stepsRedone: Int?
    /// Stops `serve()` within 250 ms when requested, from any thread.
    public let stop: StopRequest
    /// What monitoring sees: metrics for swift-metrics' backend, and health.
    public let monitoring: ServerMetrics

    struct WorkerSlot {
        var peer: PeerID
        var lastSeen: Date
        /// The version of the weights this worker holds, so its next gradient's base.
        var heldVersion: UInt64
        var done = false
        /// Since when the worker has been lost (silent for longer than the heartbeat timeout).
        var lostSince: Date?
        /// With compression: the weights this worker holds, since its last full weights.
        var weightsCopy: WorkerWeightsCopy?
        /// Whether its large payloads go through the shared memory segment it offered.
        var sharedPayloads = false
    }

    /// The lineage of workers last sent the whole weights, at `version`. Weak: the workers' copies keep it while
    /// any of them stands there; held strongly, it would keep every later step's buffers alive through `next`.
    struct WholeWeightsPoint {
        var version: UInt64 = .max
        weak var lineage: WeightsLineage?
    }

    struct PendingPush {
        var base: UInt64
        var batch: Int
        var loss: Double
        var hasGradient: Bool
        /// The gradient's sum of squares, taken while copying it in.
        var sumOfSquares: Double
        /// It came in parts: the answer goes out in parts too, as the update proceeds.
        var inParts = false
        /// The float32 gradient's frame, read where it arrived (not copied in). Async and bounded prove it finite
        /// and measure it on arrival; sync only when the step's sum turns out not finite (see
        /// `completeSyncStepIfReady`), and until then `sumOfSquares` is unknown.
        var arrived: (any InboundFrame)?
    }

    /// The parts of a push received before the push itself.
    struct PartialPush {
        var base: UInt64
        /// Values received, from the start of the gradient.
        var received: Int
        var sumOfSquares: Double
    }

    struct IntervalStats {
        var updates = 0, samples = 0, lossSum = 0.0, normSum = 0.0, maxStaleness = 0
        var start = Date()
    }

    /// A server for shard `shard` of `cluster.servers`; shard 0 of several needs `links` to the others, in order.
    public init(run: PreparedRun, transport: ServerTransport, directory: RunDirectory, shard: Int = 0, links: [ShardLink] = [],
                quiet: Bool = false, stop: StopRequest = StopRequest(), monitoring: ServerMetrics = ServerMetrics(),
                log: @escaping (String) -> Void) throws {
        plan = try ShardPlan(parameterCount: run.spec.layout.count, shards: run.config.cluster.servers)
        guard (0 ..< plan.shards).contains(shard) else {
            throw ServerFailure(message: "shard \(shard) is outside this job's \(plan.shards) server shards (0...\(plan.shards - 1))",
                                hint: "cluster.servers sets the number of shards")
        }
        guard links.count == (shard == 0 ? plan.shards - 1 : 0) else {
            throw ServerFailure(message: "shard \(shard) of \(plan.shards) was given \(links.count) links to other shards; "
                                + (shard == 0 ? "it needs one to each of shards 1...\(plan.shards - 1)" : "only shard 0 links to the others"))
        }
        self.shard = shard
        self.links = links
        shardWatch = ShardWatch(shards: links.count + 1)
        range = plan.range(shard)
        self.run = run
        self.stop = stop
        self.monitoring = monitoring
        self.transport = transport
        self.directory = directory
        self.log = log
        cluster = run.config.cluster
        jobID = run.jobID
        layoutCount = run.spec.layout.count
        maxPayloadBytes = cluster.maxMessageMb << 20
        // Every shard draws the whole initial model from the seed and keeps its slice: the same start as one server.
        weights = Self.initialModel(of: run)[range].withUnsafeBufferPointer { OutboundFrame(floats: $0) }
        optimizer = Optimizer(settings: run.optimizerSettings, count: range.count)
        network = Network<Float>(spec: run.spec)
        let n = cluster.workers
        slots = Array(repeating: nil, count: n)
        gradients = Array(repeating: [Float](repeating: 0, count: range.count), count: n)
        pending = Array(repeating: nil, count: n)
        partialPushes = Array(repeating: nil, count: n)
        weightsSentAhead = Array(repeating: nil, count: n)
        announcedNorm = Array(repeating: nil, count: n)
        stepsDone = Array(repeating: 0, count: n)
        sum = [Float](repeating: 0, count: range.count)
        stepsPerEpoch = (0 ..< n).map { run.stepsPerEpoch(rows: run.shardRows(rank: $0, workers: n).count) }
        // Sync runs in lockstep, so every worker takes as many steps as the largest shard needs.
        totalUpdates = run.config.train.epochs * (cluster.mode == .sync ? stepsPerEpoch.max()! : stepsPerEpoch.reduce(0, +))
        schedule = run.schedule(totalSteps: totalUpdates)
        // Shard 0 reports for the job; the other shards' progress is the same.
        progress = ProgressReporter(totalSteps: totalUpdates, quiet: quiet || shard > 0)
        checkpoints = CheckpointStore(run: directory.url, keep: run.config.train.keepCheckpoints)
    }

    /// Serves until every worker has finished, then evaluates, writes `summary.json`, and shuts the workers down.
    /// When `stop` is requested it writes a checkpoint and throws `ServerStopped`; on a failure it tells the
    /// workers the job is over before throwing.
    ///
    /// With several shards, shard 0 writes the run directory for the job, and returns the summary; another shard
    /// hands its final slice to shard 0 and returns nil.
    public func serve() throws -> TrainingSummary? {
        let wallStart = Date()
        serveStart = wallStart
        BLAS.setThreadCount(run.config.train.blasThreads)
        if shard == 0 {
            if resumedFrom == nil { try directory.writeConfig(run.config) }
            let metrics = try MetricsLog(directory: directory.url, appending: resumedFrom != nil)
            try metrics.addTable("metrics", columns: ["step", "epoch", "wall_seconds", "loss", "learning_rate", "grad_norm",
                                                       "samples_per_second", "max_staleness"])
            try metrics.addTable("evaluation", columns: ["step", "epoch", "wall_seconds", "test_loss", "test_accuracy", "test_mse", "test_mae"])
            self.metrics = metrics
        }
        lastCheckpoint = Date()
        if version > 0 { returnAwaitedSince = wallStart } // resumed into a job under way
        let heartbeatCheck = Int(min(cluster.heartbeatInterval, 0.25) * 1000)
        monitoring.entered(startTime == nil ? .waitingForWorkers : .training)
        var allDoneSince: Date?
        do {
            while !(allDone && (shard == 0 || finalSnapshotServed)) {
                if let reason = stop.requested {
                    if shard > 0 {
                        // Serves on a little while, until shard 0 has collected this shard's part of its checkpoint.
                        stoppingSince = stoppingSince ?? Date()
                        if stopSnapshotServed || Date().timeIntervalSince(stoppingSince!) >= Self.stopGrace(cluster) {
                            throw ServerStopped(reason: reason, checkpointStep: nil)
                        }
                    } else if !finishesTheStepUnderWay() {
                        throw ServerStopped(reason: reason, checkpointStep: checkpointOnStop())
                    }
                }
                if let (peer, frames) = try transport.receive(timeoutMilliseconds: 0) {
                    try handleTimed(peer, frames)
                } else {
                    // Every message that arrived until now has been handled: silence is measured up to here.
                    queueDrainedAt = Date()
                    if let (peer, frames) = try transport.receive(timeoutMilliseconds: heartbeatCheck) { try handleTimed(peer, frames) }
                }
                try checkHeartbeats()
                try watchOtherShards()
                try timedAsBusy(answerSnapshotIfReady)
                try checkShardZeroCollects(allDoneSince: &allDoneSince)
                monitoring.loopTurned(version: version, totalSteps: totalUpdates, traffic: transport.traffic, busyNanoseconds: busyNanoseconds,
                                      memberStates: memberStateCounts)
            }
        } catch {
            monitoring.entered(error is ServerStopped ? .stopped : .failed)
            // The workers wait for the shards to be back at one step, and register again with shard 0 as it resumes.
            if !(error is ServerStopped || error is ShardLostItsState) { shutDownWorkers() }
            throw error
        }
        monitoring.entered(.finishing)
        guard shard == 0 else {
            shutDownWorkers()
            try sendTally()
            monitoring.publish(version: version, totalSteps: totalUpdates, traffic: transport.traffic, busyNanoseconds: busyNanoseconds,
                               memberStates: memberStateCounts())
            monitoring.entered(.finished)
            return nil
        }
        let trainSeconds = trainSecondsBefore + Date().timeIntervalSince(startTime ?? wallStart) - evaluationSeconds
        let model: ModelState
        let otherShards: ShardTally
        do {
            model = try assembleModel(atLeast: cluster.mode == .sync ? version : 0, scope: .final).model
            otherShards = try otherShardsTally()
        } catch {
            monitoring.entered(.failed)
            shutDownWorkers()
            throw error
        }
        try saveCheckpoint(model)
        let trainEval = evaluate(run.train, model.parameters)
        let testEval = run.test.map { evaluate($0, model.parameters) }
        shutDownWorkers()
        let job = ownTally.adding(otherShards)
        var summary = TrainingSummary(
            status: "completed", model: run.modelDescription, parameters: layoutCount,
            trainLoss: trainEval.loss, trainAccuracy: trainEval.accuracy,
            testLoss: testEval?.loss, testAccuracy: testEval?.accuracy, testMse: testEval?.meanSquaredError, testMae: testEval?.meanAbsoluteError,
            steps: Int(version), epochs: run.config.train.epochs, samples: samplesApplied,
            wallSeconds: Date().timeIntervalSince(wallStart), trainSeconds: trainSeconds,
            samplesPerSecond: Double(samplesApplied) / max(trainSeconds, 1e-9),
            finalLearningRate: schedule.rate(atStep: max(Int(version) - 1, 0)),
            workers: cluster.workers, mode: cluster.mode.rawValue, bytesSent: job.bytesSent, bytesReceived: job.bytesReceived,
            maxStaleness: job.maxStaleness, rejectedMessages: job.rejectedMessages)
        summary.lostWorkers = lostWorkersAtEnd()
        summary.resumedFromStep = resumedFrom?.step
        summary.stepsRedone = stepsRedone
        summary.eventFile = metrics?.events.url.lastPathComponent
        summary.classNames = run.classNames
        if plan.shards > 1 { summary.servers = plan.shards }
        try directory.writeSummary(summary)
        monitoring.publish(version: version, totalSteps: totalUpdates, traffic: transport.traffic, busyNanoseconds: busyNanoseconds,
                               memberStates: memberStateCounts())
        monitoring.entered(.finished)
        if !rejects.isEmpty { log("rejected messages by reason: \(rejects.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))") }
        return summary
    }

    /// Tells every worker, and every peer still waiting for a rank, that the job is over.
    func shutDownWorkers() {
        for peer in slots.compactMap({ $0?.peer }) {
            try? transport.send(frames(Header(kind: .shutdown, jobID: jobID, sender: -1, shard: UInt16(shard), version: version)), to: peer)
        }
        for (rank, peer) in waitingToJoin {
            try? refuse(peer, "rank \(rank) was held by a live worker until the job ended")
        }
        waitingToJoin = [:]
    }

    /// Rejected messages so far, by reason.
    public var rejectedByReason: [String: Int] { rejects }

    /// Every worker finished, or (under `on_worker_failure: continue`) was lost, and at least one finished.
    var allDone: Bool {
        slots.indices.allSatisfy { rank in
            slots[rank]?.done == true || neverReturned.contains(rank) || (slots[rank]?.lostSince != nil && cluster.onWorkerFailure == .continue)
        } && slots.contains { $0?.done == true }
    }

    /// The whole model's initial parameters, drawn from the run's seed.
    static func initialModel(of run: PreparedRun) -> [Float] {
        var initial = [Float](repeating: 0, count: run.spec.layout.count)
        initial.withUnsafeMutableBufferPointer {
            run.config.model.initializer.fill($0, layout: run.spec.layout, seed: run.config.train.seed, scale: run.config.model.initScale)
        }
        return initial
    }

    /// This server's slice of the current parameters (all of them with one shard).
    public var currentParameters: [Float] { weights.withFloats { Array($0) } }
}
