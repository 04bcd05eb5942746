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
    public private(set) var version: UInt64 = 0

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

    // MARK: - Messages

    func handle(_ peer: PeerID, _ frames: [any InboundFrame]) throws {
        try withFrameBytes(frames) { views in
            let message: Message
            do {
                message = try Message.decode(views, maxPayloadBytes: maxPayloadBytes)
            } catch let error as WireError {
                reject(peer, reason: error.reason, error.description)
                if case .protocolVersion = error {
                    try refuse(peer, "protocol: \(error.description)")
                }
                return
            }
            try dispatch(peer, message)
        }
    }

    func dispatch(_ peer: PeerID, _ message: Message) throws {
        let h = message.header
        if h.kind == .register { return try register(peer, h) }
        guard let rank = rankOfPeer[peer] else { return reject(peer, reason: "unregistered", "\(h.kind) from a peer that has not registered") }
        guard h.jobID == jobID else { return reject(peer, reason: "job_id", "job id \(h.jobID) is not this job's") }
        slots[rank]!.lastSeen = Date()
        if slots[rank]!.reportedSilent {
            slots[rank]!.reportedSilent = false
            log("worker \(rank) is back")
        }
        switch h.kind {
        case .pull:
            try sendWeights(to: rank)
        case .push:
            try receivePush(rank: rank, message)
        case .heartbeat:
            break
        case .barrier:
            slots[rank]!.done = true
            log("worker \(rank) finished")
        case .stats:
            let state: [String: Any] = ["version": version, "mode": cluster.mode.rawValue, "workers": slots.compactMap { $0 }.count]
            try transport.send(textFrames(Header(kind: .stats, jobID: jobID, sender: -1, version: version), json(state)), to: peer)
        case .register, .welcome, .refuse, .weights, .shutdown:
            reject(peer, reason: "unexpected_kind", "a worker does not send \(h.kind)")
        }
    }

    func register(_ peer: PeerID, _ h: Header) throws {
        guard h.jobID == jobID else {
            return try refuse(peer, "this worker was started with another config than the server (job id \(h.jobID), server's \(jobID)); "
                              + "start every process from the same config file and overrides")
        }
        guard h.layoutHash == run.spec.layout.hash else {
            return try refuse(peer, "model layout differs: the server trains \(run.modelDescription) (layout hash \(run.spec.layout.hash)), "
                              + "the worker's layout hash is \(h.layoutHash)")
        }
        let requested = Int(h.sender)
        let rank: Int
        if let existing = rankOfPeer[peer] {
            rank = existing
        } else if requested >= 0 {
            guard requested < cluster.workers else {
                return try refuse(peer, "rank \(requested) is outside this job's \(cluster.workers) workers (0...\(cluster.workers - 1))")
            }
            guard slots[requested] == nil else { return try refuse(peer, "rank \(requested) is already taken") }
            rank = requested
        } else {
            guard let free = slots.firstIndex(where: { $0 == nil }) else {
                return try refuse(peer, "all \(cluster.workers) worker ranks are taken")
            }
            rank = free
        }
        slots[rank] = WorkerSlot(peer: peer, lastSeen: Date(), heldVersion: version)
        rankOfPeer[peer] = rank
        log("worker \(rank) registered (\(slots.compactMap { $0 }.count)/\(cluster.workers))")
        if slots.allSatisfy({ $0 != nil }) && startTime == nil { startTime = Date() }
        let facts: [String: Any] = ["rank": rank, "workers": cluster.workers, "mode": cluster.mode.rawValue, "version": version,
                                    "steps_per_epoch": cluster.mode == .sync ? stepsPerEpoch.max()! : stepsPerEpoch[rank]]
        try transport.send(textFrames(Header(kind: .welcome, jobID: jobID, sender: -1, version: version, aux: UInt64(rank)), json(facts)), to: peer)
    }

    func refuse(_ peer: PeerID, _ reason: String) throws {
        log("refused peer \(peer): \(reason)")
        try transport.send(textFrames(Header(kind: .refuse, jobID: jobID, sender: -1), reason), to: peer)
    }

    /// Counts a rejected message and logs it once per peer.
    func reject(_ peer: PeerID, reason: String, _ detail: String) {
        rejects[reason, default: 0] += 1
        if reportedPeers.insert(peer).inserted {
            let who = rankOfPeer[peer].map { "worker \($0)" } ?? "peer \(peer)"
            log("rejected a message from \(who): \(detail) (further rejects from it are counted, not logged)")
        }
    }

    func sendWeights(to rank: Int) throws {
        let header = Header(kind: .weights, jobID: jobID, sender: -1, elementType: .float32, version: version,
                            count: UInt64(layoutCount), layoutHash: run.spec.layout.hash)
        try transport.send(frames(header, payload: weights), to: slots[rank]!.peer)
        slots[rank]!.heldVersion = version
    }

    /// The weights frame, safe to update in place: the current one if no transport still holds it (it has been
    /// sent), else a copy in the spare frame (or a new one), which becomes the current frame.
    func weightsForUpdate() -> OutboundFrame {
        if isKnownUniquelyReferenced(&weights) { return weights }
        var next = spareWeights.flatMap { spare -> OutboundFrame? in
            var spare = spare
            spareWeights = nil
            return isKnownUniquelyReferenced(&spare) ? spare : nil
        } ?? OutboundFrame(count: 4 * layoutCount)
        next.withMutableBytes { $0.copyMemory(from: weights.bytes) }
        spareWeights = weights
        swap(&weights, &next)
        return weights
    }

    func receivePush(rank: Int, _ message: Message) throws {
        let h = message.header
        guard pending[rank] == nil else {
            return reject(slots[rank]!.peer, reason: "duplicate_push", "worker \(rank) pushed again before its last push was answered")
        }
        var push = PendingPush(base: h.version, batch: Int(clamping: h.aux), loss: h.value, hasGradient: h.elementType == .float32,
                               sumOfSquares: 0)
        if push.hasGradient {
            guard h.count == UInt64(layoutCount), let payload = message.payload else {
                reject(slots[rank]!.peer, reason: "gradient_size", "gradient of \(h.count) values; the model has \(layoutCount)")
                return try sendWeights(to: rank)
            }
            // One pass copies the gradient in, proves it finite, and measures it for clipping.
            push.sumOfSquares = gradients[rank].withUnsafeMutableBufferPointer { VectorOps.copySumOfSquares(from: payload, into: $0) }
            if !push.sumOfSquares.isFinite {
                // A non-finite gradient would poison every parameter: drop it, keep the worker's step.
                reject(slots[rank]!.peer, reason: "non_finite", "gradient with NaN or infinity from worker \(rank)")
                push.hasGradient = false
                push.batch = 0
            }
        } else {
            push.batch = 0
        }
        if cluster.mode == .sync && push.base != version {
            reject(slots[rank]!.peer, reason: "wrong_version", "sync push against version \(push.base); the server is at \(version)")
            return try sendWeights(to: rank)
        }
        pending[rank] = push
        switch cluster.mode {
        case .sync: try completeSyncStepIfReady()
        case .async, .bounded: try applyQueuedPushes()
        }
    }

    // MARK: - Updates

    /// Sync: once every worker has pushed for this version, sums the gradients in rank order (weighted by
    /// batch size, so the mean equals one big batch's), applies them once, and answers every worker.
    func completeSyncStepIfReady() throws {
        guard pending.allSatisfy({ $0 != nil }) else { return }
        let total = pending.reduce(0) { $0 + $1!.batch }
        let loss = pending.reduce(0.0) { $0 + $1!.loss * Double($1!.batch) }
        if total > 0 {
            sum.withUnsafeMutableBufferPointer { s in
                s.update(repeating: 0)
                for rank in 0 ..< cluster.workers where pending[rank]!.hasGradient {
                    gradients[rank].withUnsafeBufferPointer { VectorOps.addScaled($0, times: Float(pending[rank]!.batch), into: s) }
                }
                VectorOps.scale(s, by: 1 / Float(total))
            }
            applyUpdate(gradient: &sum, samples: total, lossSum: loss, staleness: 0)
        } else {
            version += 1
        }
        for rank in 0 ..< cluster.workers {
            pending[rank] = nil
            try sendWeights(to: rank)
        }
    }

    /// Async applies every push at once. Bounded applies a push only while doing so keeps every other worker's
    /// weights within `staleness` versions of the server's, oldest base first; the rest wait in `pending`.
    func applyQueuedPushes() throws {
        while true {
            let candidates = (0 ..< cluster.workers).filter { pending[$0] != nil }.sorted { (pending[$0]!.base, $0) < (pending[$1]!.base, $1) }
            guard let rank = candidates.first(where: canApply) else { return }
            let push = pending[rank]!
            pending[rank] = nil
            let staleness = Int(version - min(push.base, version))
            if push.hasGradient && push.batch > 0 {
                applyUpdate(gradient: &gradients[rank], samples: push.batch, lossSum: push.loss * Double(push.batch), staleness: staleness,
                            sumOfSquares: push.sumOfSquares)
            }
            try sendWeights(to: rank)
        }
    }

    func canApply(_ rank: Int) -> Bool {
        guard cluster.mode == .bounded else { return true }
        let others = (0 ..< cluster.workers).filter { $0 != rank && slots[$0]?.done != true }
        // A worker not yet registered starts from whatever version is current when it joins: no constraint.
        let oldest = others.compactMap { slots[$0]?.heldVersion }.min() ?? version + 1
        return version + 1 - min(oldest, version + 1) <= UInt64(cluster.staleness)
    }

    /// Clips, steps the optimizer, advances the version, and records metrics; evaluates at epoch ends.
    func applyUpdate(gradient: inout [Float], samples: Int, lossSum: Double, staleness: Int, sumOfSquares: Double? = nil) {
        let o = run.config.optimizer
        let learningRate = schedule.rate(atStep: Int(version))
        let norm = weightsForUpdate().withFloats { p in
            gradient.withUnsafeMutableBufferPointer { g in
                let norm = Clipping.clip(g, byValue: o.clipValue, byNorm: o.clipNorm, sumOfSquares: sumOfSquares)
                optimizer.update(parameters: p, gradient: g, learningRate: learningRate)
                return norm
            }
        }
        version += 1
        samplesApplied += samples
        maxStaleness = max(maxStaleness, staleness)
        interval.updates += 1
        interval.samples += samples
        interval.lossSum += lossSum
        interval.normSum += norm
        interval.maxStaleness = max(interval.maxStaleness, staleness)
        let rate = Double(interval.samples) / max(Date().timeIntervalSince(interval.start), 1e-9)
        progress.step(Int(version), epoch: min(epochsEvaluated + 1, run.config.train.epochs), epochs: run.config.train.epochs,
                      loss: interval.lossSum / Double(max(interval.samples, 1)), learningRate: learningRate, samplesPerSecond: rate)
        if Int(version) % run.config.train.logEvery == 0 || Int(version) == totalUpdates {
            metrics?.record("metrics", [
                "step": Double(version), "epoch": Double(samplesApplied) / Double(run.train.rows),
                "wall_seconds": Date().timeIntervalSince(serveStart),
                "loss": interval.lossSum / Double(max(interval.samples, 1)), "learning_rate": learningRate,
                "grad_norm": interval.normSum / Double(interval.updates), "samples_per_second": rate,
                "max_staleness": Double(interval.maxStaleness),
            ])
            interval = IntervalStats()
        }
        let epochsDone = cluster.mode == .sync ? Int(version) / stepsPerEpoch.max()! : samplesApplied / run.train.rows
        while epochsEvaluated < min(epochsDone, run.config.train.epochs) {
            epochsEvaluated += 1
            evaluateEpoch(epochsEvaluated)
        }
    }

    func evaluateEpoch(_ epoch: Int) {
        guard let test = run.test else { return }
        let start = Date()
        let e = evaluate(test)
        evaluationSeconds += Date().timeIntervalSince(start)
        metrics?.record("evaluation", [
            "step": Double(version), "epoch": Double(epoch), "wall_seconds": Date().timeIntervalSince(serveStart),
            "test_loss": e.loss, "test_accuracy": e.accuracy, "test_mse": e.meanSquaredError, "test_mae": e.meanAbsoluteError,
        ])
        var line = "epoch \(epoch)/\(run.config.train.epochs)  step \(version)" + String(format: "  test_loss %.4f", e.loss)
        if let accuracy = e.accuracy { line += String(format: "  test_accuracy %.2f%%", 100 * accuracy) }
        if let mse = e.meanSquaredError { line += String(format: "  test_mse %.4g", mse) }
        progress.log(line)
    }

    func evaluate(_ data: Dataset) -> Evaluation {
        weights.withFloats { network.evaluate(parameters: UnsafeBufferPointer($0), inputs: data.features, targets: data.targets, rows: data.rows) }
    }

    /// Reports, once, each worker silent for longer than the heartbeat timeout.
    func checkHeartbeats() {
        let now = Date()
        for rank in slots.indices {
            guard let slot = slots[rank], !slot.done, !slot.reportedSilent else { continue }
            let silence = now.timeIntervalSince(slot.lastSeen)
            if silence > cluster.heartbeatTimeout {
                slots[rank]!.reportedSilent = true
                log(String(format: "worker %d silent for %.1f s (heartbeat timeout %.1f s)", rank, silence, cluster.heartbeatTimeout))
            }
        }
    }

    /// The current parameters (for tests and checkpoints).
    public var currentParameters: [Float] { weights.withFloats { Array($0) } }
}
