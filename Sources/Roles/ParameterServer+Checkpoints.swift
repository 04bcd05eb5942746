import Config
import Foundation
import Training

/// The server's checkpoints: the parameters, the optimizer state, the version and each worker's progress,
/// so a killed server restarted with `--resume` continues the job, losing at most one checkpoint interval.
extension ParameterServer {
    /// Writes a checkpoint every `train.checkpoint_every` versions or `train.checkpoint_seconds` seconds. With several
    /// shards, shard 0 writes it for the job: the whole model, its own slice and the others' (see `saveShardedCheckpoint`).
    func checkpointIfDue() throws {
        // Once asked to stop, the checkpoint written on the way out stands in for it.
        guard shard == 0, stop.requested == nil else { return }
        let t = run.config.train
        let byStep = t.checkpointEvery > 0 && Int(version) % t.checkpointEvery == 0 && Int(version) != lastCheckpointStep
        let byTime = t.checkpointSeconds > 0 && Date().timeIntervalSince(lastCheckpoint) >= t.checkpointSeconds
        guard byStep || byTime else { return }
        if plan.shards == 1 { try saveCheckpoint() } else { try saveShardedCheckpoint() }
    }

    /// The checkpoint written when the server is asked to stop; its step, or nil when none could be written.
    ///
    /// With several shards, every shard is usually stopped at once (`pstrain launch` signals them together). The
    /// others serve on for up to `stopGrace` seconds, until shard 0 has collected their parts. In sync mode they
    /// can stand one step from shard 0 either way. Behind: a worker's norm total is still on the way to them, and
    /// shard 0 waits for them to take it. Ahead: they took a norm total still unread in shard 0's queue, and shard 0
    /// first finishes that step (`finishesTheStepUnderWay`). A shard that never catches up, or is gone, costs this
    /// checkpoint only; the latest periodic one stands.
    func checkpointOnStop() -> Int? {
        do {
            if plan.shards == 1 {
                try saveCheckpoint()
            } else {
                guard try saveShardedCheckpoint(waiting: Self.stopGrace(cluster)) else { return nil }
            }
            return Int(version)
        } catch {
            log("no checkpoint as the server stops: \(error)")
            return nil
        }
    }

    /// Shard 0 of several in sync mode, asked to stop while its step waits for the workers' norm total: whether it
    /// serves on to take it. The workers send the total only once every shard has sent its share, and to shard 0
    /// first, so another shard may already have taken this step: a checkpoint now would mix two steps, and none
    /// would be written. Half the stop grace at most, so what `checkpointOnStop` waits for still fits the budget.
    func finishesTheStepUnderWay() -> Bool {
        guard shard == 0, plan.shards > 1, cluster.mode == .sync, stepAwaitingNorm != nil else { return false }
        let since = stoppingSince ?? Date()
        stoppingSince = since
        return Date().timeIntervalSince(since) < Self.stopGrace(cluster) / 2
    }

    /// How long the shards take, when stopped together, to hand shard 0 the parts of its last checkpoint: within
    /// the 5 s `pstrain launch` gives its children to stop before it signals them.
    static func stopGrace(_ cluster: ClusterConfig) -> TimeInterval { min(cluster.serverTimeout, 3) }

    /// Shard 0 of several: collects every shard's slice and optimizer state and writes them as one checkpoint, the
    /// same as one server's. Sync calls it before sending this step's weights: until they go out no worker can push
    /// the next step, so every other shard is held at this version while shard 0 collects it. Async shards apply
    /// pushes in their own order and never agree on one version: each slice is taken as it is when asked.
    /// Waits for each shard up to `waiting` seconds (default: `cluster.server_timeout`); returns whether it wrote one.
    @discardableResult
    func saveShardedCheckpoint(waiting: TimeInterval? = nil) throws -> Bool {
        let (model, versions) = try assembleModel(atLeast: cluster.mode == .sync ? version : 0, scope: .checkpoint, waiting: waiting)
        // A shard at step 0 this far behind restarted without its state (see `Worker.checkShardKeptItsState`).
        if version > UInt64(cluster.workers), versions.contains(0) {
            log("no checkpoint at step \(version): a server shard is at step 0, restarted without its state; "
                + "restart shard 0 with --resume to bring every shard back to the latest checkpoint")
            lastCheckpoint = Date()
            return false
        }
        if cluster.mode == .sync, let other = versions.first(where: { $0 != version }) {
            // A checkpoint mixing two steps would resume neither exactly.
            log("no checkpoint at step \(version): another shard answered at step \(other)")
            lastCheckpoint = Date()
            return false
        }
        try saveCheckpoint(model)
        return true
    }

    /// Writes the state as it is between two updates (the optimizer and the weights agree): this server's own,
    /// or `model`, the whole job's assembled from every shard.
    func saveCheckpoint(_ model: ModelState? = nil) throws {
        let trainSeconds = trainSecondsBefore + (startTime.map { Date().timeIntervalSince($0) - evaluationSeconds } ?? 0)
        let model = model ?? ModelState(parameters: currentParameters, firstMoment: optimizer.firstMoment, secondMoment: optimizer.secondMoment)
        let state = TrainingCheckpoint(
            step: Int(version), epoch: epochsEvaluated, batchInEpoch: 0, samples: samplesApplied, trainSeconds: trainSeconds,
            parameters: model.parameters, optimizerStep: optimizer.step, firstMoment: model.firstMoment,
            secondMoment: model.secondMoment, workerSteps: stepsDone)
        try checkpoints.save(state.encode(layout: run.spec.layout, jobID: jobID, model: run.modelDescription), step: Int(version))
        lastCheckpoint = Date()
        lastCheckpointStep = Int(version)
        monitoring.checkpointed(step: lastCheckpointStep, at: lastCheckpoint)
    }

    /// Continues from `checkpoint` (call before `serve()`): its parameters, optimizer state, version and each
    /// worker's progress. Workers that register are told where to start.
    public func resume(from checkpoint: TrainingCheckpoint) throws {
        guard checkpoint.workerSteps.count == cluster.workers else {
            throw CheckpointError(path: checkpoints.directory.path,
                                  message: "the checkpoint is not a parameter server's for \(cluster.workers) workers "
                                      + "(it records \(checkpoint.workerSteps.count))",
                                  hint: "a `pstrain train` checkpoint resumes with `pstrain train --resume`")
        }
        guard shard == 0 else {
            throw ServerFailure(message: "shard \(shard) was asked to resume a checkpoint; a sharded job resumes through shard 0",
                                hint: "start shards 1... as usual, and shard 0 with --resume: it hands them their slices")
        }
        // The checkpoint holds the whole model: with several shards, shard 0 keeps its slice and hands the others
        // theirs (`restoreOtherShards`).
        func slice(_ values: [Float]) -> [Float] { values.isEmpty ? [] : Array(values[range]) }
        do {
            try optimizer.restore(step: checkpoint.optimizerStep, firstMoment: slice(checkpoint.firstMoment), secondMoment: slice(checkpoint.secondMoment))
        } catch {
            throw CheckpointError(path: checkpoints.directory.path, message: "optimizer state: \(error)")
        }
        weights.withFloats { _ = $0.update(fromContentsOf: checkpoint.parameters[range]) }
        version = UInt64(checkpoint.step)
        samplesApplied = checkpoint.samples
        epochsEvaluated = checkpoint.epoch
        stepsDone = checkpoint.workerSteps
        trainSecondsBefore = checkpoint.trainSeconds
        lastCheckpointStep = checkpoint.step
        resumedFrom = checkpoint
        stepsRedone = Self.lastLoggedStep(in: directory.url).map { max(0, $0 - checkpoint.step) }
        log("resumed from the checkpoint of step \(checkpoint.step)"
            + (stepsRedone.map { $0 > 0 ? "; the \($0) steps logged after it are done again" : "" } ?? ""))
    }

    /// The latest checkpoint of the run in `directory`, nil when it has none.
    public static func latestCheckpoint(of run: PreparedRun, in directory: RunDirectory) throws -> TrainingCheckpoint? {
        try LocalTrainer.latestCheckpoint(of: run, in: directory)
    }

    /// The highest step in the run's `metrics.jsonl`: how far the job got before the restart, as far as logged.
    static func lastLoggedStep(in run: URL) -> Int? {
        guard let text = try? String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else { return nil }
        return text.split(separator: "\n").compactMap { line -> Int? in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return (object?["step"] as? NSNumber)?.intValue
        }.max()
    }
}
