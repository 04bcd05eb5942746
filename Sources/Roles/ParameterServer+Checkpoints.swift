import Foundation
import Training

/// The server's checkpoints: the parameters, the optimizer state, the version and each worker's progress,
/// so a killed server restarted with `--resume` continues the job, losing at most one checkpoint interval.
extension ParameterServer {
    /// Writes a checkpoint every `train.checkpoint_every` versions or `train.checkpoint_seconds` seconds.
    /// With several shards no checkpoint is written during training: each shard holds only its slice.
    func checkpointIfDue() throws {
        guard plan.shards == 1 else { return }
        let t = run.config.train
        let byStep = t.checkpointEvery > 0 && Int(version) % t.checkpointEvery == 0 && Int(version) != lastCheckpointStep
        let byTime = t.checkpointSeconds > 0 && Date().timeIntervalSince(lastCheckpoint) >= t.checkpointSeconds
        if byStep || byTime { try saveCheckpoint() }
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
        do { try optimizer.restore(step: checkpoint.optimizerStep, firstMoment: checkpoint.firstMoment, secondMoment: checkpoint.secondMoment) } catch {
            throw CheckpointError(path: checkpoints.directory.path, message: "optimizer state: \(error)")
        }
        weights.withFloats { $0.update(fromContentsOf: checkpoint.parameters) }
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
