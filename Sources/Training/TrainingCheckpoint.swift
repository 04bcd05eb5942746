import Models
import Optimizers

/// Everything a single-process run needs to continue exactly where it stopped: the parameters, the optimizer's
/// state, and the position in the data. Shuffles, dropout masks and the schedule all derive from the seed,
/// the epoch and the step, so a resumed run repeats an uninterrupted one bit for bit.
public struct TrainingCheckpoint: Sendable {
    public var step: Int
    /// The epoch in progress and how many of its batches are done.
    public var epoch: Int
    public var batchInEpoch: Int
    public var samples: Int
    public var trainSeconds: Double
    public var parameters: [Float]
    public var optimizerStep: Int
    public var firstMoment: [Float]
    public var secondMoment: [Float]
    /// A parameter server's: the steps each worker rank has had applied (async and bounded runs resume each
    /// worker there). Empty for `pstrain train`.
    public var workerSteps: [Int]

    static let format = "pstrain.checkpoint.1"

    public init(step: Int, epoch: Int, batchInEpoch: Int, samples: Int, trainSeconds: Double, parameters: [Float], optimizerStep: Int,
                firstMoment: [Float], secondMoment: [Float], workerSteps: [Int] = []) {
        self.step = step
        self.epoch = epoch
        self.batchInEpoch = batchInEpoch
        self.samples = samples
        self.trainSeconds = trainSeconds
        self.parameters = parameters
        self.optimizerStep = optimizerStep
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
        self.workerSteps = workerSteps
    }

    /// The safetensors bytes: each parameter tensor by its layout name, the optimizer's moments as
    /// `optimizer.first_moment.<name>` and `optimizer.second_moment.<name>`, the rest as metadata.
    public func encode(layout: ParameterLayout, jobID: UInt64, model: String) -> [UInt8] {
        parameters.withUnsafeBufferPointer { p in
            firstMoment.withUnsafeBufferPointer { m in
                secondMoment.withUnsafeBufferPointer { v in
                    var tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)] = []
                    for (prefix, buffer) in [("", p), ("optimizer.first_moment.", m), ("optimizer.second_moment.", v)] where !buffer.isEmpty {
                        for e in layout.entries {
                            tensors.append((prefix + e.name, e.shape, UnsafeBufferPointer(rebasing: buffer[e.range])))
                        }
                    }
                    var metadata = [
                        "format": Self.format, "model": model, "step": "\(step)", "epoch": "\(epoch)", "batch_in_epoch": "\(batchInEpoch)",
                        "samples": "\(samples)", "train_seconds": "\(trainSeconds)", "optimizer_step": "\(optimizerStep)",
                        "layout_hash": "\(layout.hash)", "config_hash": "\(jobID)",
                    ]
                    if !workerSteps.isEmpty { metadata["worker_steps"] = workerSteps.map(String.init).joined(separator: ",") }
                    return Safetensors.encode(tensors, metadata: metadata)
                }
            }
        }
    }

    /// Reads a checkpoint, checking that it belongs to this model and config.
    public static func decode(_ bytes: [UInt8], source: String, layout: ParameterLayout, jobID: UInt64) throws -> TrainingCheckpoint {
        let (tensors, meta) = try Safetensors.decode(bytes, source: source)
        func fail(_ message: String, hint: String? = nil) -> CheckpointError { CheckpointError(path: source, message: message, hint: hint) }
        guard meta["format"] == format else { throw fail("not a pstrain checkpoint (format \(meta["format"] ?? "none"), expected \(format))") }
        guard meta["layout_hash"] == "\(layout.hash)" else {
            throw fail("the checkpoint is of another model (layout hash \(meta["layout_hash"] ?? "none"), this model's \(layout.hash))")
        }
        guard meta["config_hash"] == "\(jobID)" else {
            throw fail("the checkpoint was written under another config", hint: "resume with the run's own config.yaml, unchanged")
        }
        func integer(_ key: String) throws -> Int {
            guard let v = meta[key].flatMap(Int.init) else { throw fail("metadata \(key) is missing or not a whole number") }
            return v
        }
        func gather(_ prefix: String, required: Bool) throws -> [Float] {
            guard required || tensors[prefix + layout.entries[0].name] != nil else { return [] }
            var values = [Float](repeating: 0, count: layout.count)
            for e in layout.entries {
                guard let t = tensors[prefix + e.name], t.shape == e.shape else { throw fail("tensor \(prefix + e.name) is missing or has the wrong shape") }
                values.replaceSubrange(e.range, with: t.values)
            }
            return values
        }
        var workerSteps: [Int] = []
        if let list = meta["worker_steps"] {
            let parsed = list.split(separator: ",").compactMap { Int($0) }
            guard !parsed.isEmpty, parsed.count == list.split(separator: ",").count, parsed.allSatisfy({ $0 >= 0 }) else {
                throw fail("metadata worker_steps is not a list of step counts: \(list)")
            }
            workerSteps = parsed
        }
        return TrainingCheckpoint(
            step: try integer("step"), epoch: try integer("epoch"), batchInEpoch: try integer("batch_in_epoch"), samples: try integer("samples"),
            trainSeconds: meta["train_seconds"].flatMap(Double.init) ?? 0, parameters: try gather("", required: true),
            optimizerStep: try integer("optimizer_step"), firstMoment: try gather("optimizer.first_moment.", required: false),
            secondMoment: try gather("optimizer.second_moment.", required: false), workerSteps: workerSteps)
    }
}
