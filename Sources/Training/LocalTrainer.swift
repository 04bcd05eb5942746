import Config
import Data
import Foundation
import Models
import Numerics
import Optimizers

/// Training stopped because the numbers did.
public struct TrainingError: Error, CustomStringConvertible {
    public var message: String
    public var hint: String?
    public var description: String { message + (hint.map { "\n  hint: \($0)" } ?? "") }
}

/// Trains a model in one process: the loop a worker and the server split between them in distributed runs.
///
/// Each step gathers a mini-batch, computes loss and gradient, clips, and applies the optimizer to the whole
/// flat parameter vector. Buffers are allocated once, before the first step.
public final class LocalTrainer {
    public let run: PreparedRun
    public let directory: RunDirectory
    let progress: ProgressReporter?
    public private(set) var parameters: [Float]
    let resume: TrainingCheckpoint?
    let checkpoints: CheckpointStore
    /// Stops training at the next step boundary, after writing a checkpoint; safe from any thread.
    public let stop: StopRequest

    /// A new run, or with `resume` the continuation of the run in `directory` from that checkpoint.
    public init(run: PreparedRun, directory: RunDirectory, quiet: Bool = false, resume: TrainingCheckpoint? = nil, stop: StopRequest = StopRequest()) {
        self.run = run
        self.directory = directory
        self.resume = resume
        self.stop = stop
        checkpoints = CheckpointStore(run: directory.url, keep: run.config.train.keepCheckpoints)
        let total = run.stepsPerEpoch(rows: run.train.rows) * run.config.train.epochs
        progress = quiet ? nil : ProgressReporter(totalSteps: total)
        if let resume {
            parameters = resume.parameters
        } else {
            parameters = [Float](repeating: 0, count: run.spec.layout.count)
            parameters.withUnsafeMutableBufferPointer {
                run.config.model.initializer.fill($0, layout: run.spec.layout, seed: run.config.train.seed, scale: run.config.model.initScale)
            }
        }
    }

    /// Loads the latest checkpoint of the run in `directory` (nil when it has none).
    public static func latestCheckpoint(of run: PreparedRun, in directory: RunDirectory) throws -> TrainingCheckpoint? {
        guard let (bytes, path) = try CheckpointStore(run: directory.url, keep: 1).loadLatest() else { return nil }
        return try TrainingCheckpoint.decode(bytes, source: path, layout: run.spec.layout, jobID: run.jobID)
    }

    /// Runs every epoch, evaluating on the test set after each, and writes the run directory.
    public func train() throws -> TrainingSummary {
        let wallStart = Date()
        let config = run.config, t = config.train
        BLAS.setThreadCount(t.blasThreads)
        if resume == nil { try directory.writeConfig(config) }
        let metrics = try MetricsLog(directory: directory.url, appending: resume != nil)
        try metrics.addTable("metrics", columns: ["step", "epoch", "wall_seconds", "loss", "learning_rate", "grad_norm", "samples_per_second"])
        try metrics.addTable("evaluation", columns: ["step", "epoch", "wall_seconds", "test_loss", "test_accuracy", "test_mse", "test_mae"])

        let network = Network<Float>(spec: run.spec)
        let data = run.train, layoutCount = run.spec.layout.count
        let rows = Shard(rank: 0, count: 1).indices(total: data.rows)
        let stepsPerEpoch = run.stepsPerEpoch(rows: data.rows)
        let schedule = run.schedule(totalSteps: stepsPerEpoch * t.epochs)
        var optimizer = Optimizer(settings: run.optimizerSettings, count: layoutCount)
        if let resume {
            do { try optimizer.restore(step: resume.optimizerStep, firstMoment: resume.firstMoment, secondMoment: resume.secondMoment) } catch {
                throw CheckpointError(path: checkpoints.directory.path, message: "optimizer state: \(error)")
            }
        }
        var gradient = [Float](repeating: 0, count: layoutCount)
        var batchX = [Float](repeating: 0, count: t.batchSize * data.featureCount)
        var batchY = [Float](repeating: 0, count: t.batchSize * data.targetWidth)

        var step = resume?.step ?? 0, samples = resume?.samples ?? 0, trainSeconds = resume?.trainSeconds ?? 0
        var lastCheckpoint = Date()
        var status = "completed"
        func checkpoint(epoch: Int, batchInEpoch: Int) throws {
            let state = TrainingCheckpoint(step: step, epoch: epoch, batchInEpoch: batchInEpoch, samples: samples, trainSeconds: trainSeconds,
                                           parameters: parameters, optimizerStep: optimizer.step, firstMoment: optimizer.firstMoment,
                                           secondMoment: optimizer.secondMoment)
            try checkpoints.save(state.encode(layout: run.spec.layout, jobID: run.jobID, model: run.modelDescription), step: step)
            lastCheckpoint = Date()
        }
        // Speeds count training time: the loop's wall time less evaluation, as a cluster's server counts it.
        var intervalLoss = 0.0, intervalNorm = 0.0, intervalSteps = 0, intervalSamples = 0, intervalSeconds = 0.0
        var clock = TrainingClock()
        training: for epoch in (resume?.epoch ?? 0) ..< t.epochs {
            let batches = EpochBatches(shardRows: rows, batchSize: t.batchSize, epoch: epoch, seed: t.seed, shuffle: t.shuffle, dropLast: t.dropLast)
            let epochStart = Date()
            // A resumed epoch skips the batches done before the checkpoint: the order is the same, by seed and epoch.
            let done = epoch == resume?.epoch ? resume!.batchInEpoch : 0
            for (index, batch) in batches.enumerated() where index >= done {
                let learningRate = schedule.rate(atStep: step)
                var dropoutRNG = SeededGenerator(seed: t.seed, streams: 0xD209, UInt64(step))
                data.gather(batch, features: &batchX, targets: &batchY)
                let loss = parameters.withUnsafeBufferPointer { p in
                    gradient.withUnsafeMutableBufferPointer { g in
                        network.lossAndGradient(parameters: p, inputs: batchX, targets: batchY, rows: batch.count, gradient: g, rng: &dropoutRNG)
                    }
                }
                guard loss.isFinite else {
                    throw TrainingError(message: "training diverged at step \(step + 1): the loss is \(loss)",
                                        hint: "lower optimizer.lr (now \(learningRate)), set optimizer.clip_norm, or scale the data (data.scale: standard)")
                }
                let norm = parameters.withUnsafeMutableBufferPointer { p in
                    gradient.withUnsafeMutableBufferPointer { g in
                        let norm = Clipping.clip(g, byValue: config.optimizer.clipValue, byNorm: config.optimizer.clipNorm)
                        optimizer.update(parameters: p, gradient: g, learningRate: learningRate)
                        return norm
                    }
                }
                let stepSeconds = clock.lap()
                step += 1
                samples += batch.count
                trainSeconds += stepSeconds
                intervalLoss += Double(loss); intervalNorm += norm; intervalSteps += 1; intervalSamples += batch.count; intervalSeconds += stepSeconds
                let rate = Double(intervalSamples) / max(intervalSeconds, 1e-9)
                progress?.step(step, epoch: epoch + 1, epochs: t.epochs, loss: intervalLoss / Double(intervalSteps), learningRate: learningRate,
                               samplesPerSecond: Double(samples) / max(trainSeconds, 1e-9))
                if step % t.logEvery == 0 || step == stepsPerEpoch * t.epochs {
                    metrics.record("metrics", [
                        "step": Double(step), "epoch": Double(epoch) + Double(samples - epoch * data.rows) / Double(data.rows),
                        "wall_seconds": Date().timeIntervalSince(wallStart), "loss": intervalLoss / Double(intervalSteps),
                        "learning_rate": learningRate, "grad_norm": intervalNorm / Double(intervalSteps), "samples_per_second": rate,
                    ])
                    intervalLoss = 0; intervalNorm = 0; intervalSteps = 0; intervalSamples = 0; intervalSeconds = 0
                }
                if let reason = stop.requested {
                    try checkpoint(epoch: epoch, batchInEpoch: index + 1)
                    progress?.log("stopped (\(reason)) at step \(step); checkpoint written, resume with --resume \(directory.url.path)")
                    status = "interrupted"
                    break training
                }
                if (t.checkpointEvery > 0 && step % t.checkpointEvery == 0)
                    || (t.checkpointSeconds > 0 && Date().timeIntervalSince(lastCheckpoint) >= t.checkpointSeconds) {
                    try checkpoint(epoch: epoch, batchInEpoch: index + 1)
                }
            }
            var line = "epoch \(epoch + 1)/\(t.epochs)  step \(step)"
            if let test = run.test {
                let e = evaluate(network, test)
                metrics.record("evaluation", [
                    "step": Double(step), "epoch": Double(epoch + 1), "wall_seconds": Date().timeIntervalSince(wallStart),
                    "test_loss": e.loss, "test_accuracy": e.accuracy, "test_mse": e.meanSquaredError, "test_mae": e.meanAbsoluteError,
                ])
                line += String(format: "  test_loss %.4f", e.loss)
                if let accuracy = e.accuracy { line += String(format: "  test_accuracy %.2f%%", 100 * accuracy) }
                if let mse = e.meanSquaredError { line += String(format: "  test_mse %.4g", mse) }
            }
            progress?.log(line + String(format: "  (%.1f s)", Date().timeIntervalSince(epochStart)))
            clock.exclude()
        }

        if status == "completed" { try checkpoint(epoch: t.epochs, batchInEpoch: 0) }
        let trainEval = evaluate(network, data)
        let testEval = run.test.map { evaluate(network, $0) }
        var summary = TrainingSummary(
            status: status, model: describeModel(), parameters: layoutCount,
            trainLoss: trainEval.loss, trainAccuracy: trainEval.accuracy,
            testLoss: testEval?.loss, testAccuracy: testEval?.accuracy, testMse: testEval?.meanSquaredError, testMae: testEval?.meanAbsoluteError,
            steps: step, epochs: t.epochs, samples: samples,
            wallSeconds: Date().timeIntervalSince(wallStart), trainSeconds: trainSeconds,
            samplesPerSecond: Double(samples) / max(trainSeconds, 1e-9), finalLearningRate: schedule.rate(atStep: max(step - 1, 0)))
        summary.eventFile = metrics.events.url.lastPathComponent
        summary.classNames = run.classNames
        try directory.writeSummary(summary)
        return summary
    }

    public func evaluate(_ network: Network<Float>, _ data: Dataset) -> Evaluation {
        parameters.withUnsafeBufferPointer { p in
            network.evaluate(parameters: p, inputs: data.features, targets: data.targets, rows: data.rows)
        }
    }

    public func describeModel() -> String { run.modelDescription }
}
