import Config
import Data
import Foundation
import Models
import Numerics
import Optimizers
import Training
import Transport
import Wire

/// Applying gradients per consistency mode, and evaluating.
extension ParameterServer {
    /// Sync: once every worker has pushed for this version, sums the gradients in rank order (weighted by
    /// batch size, so the mean equals one big batch's), applies them once, and answers every worker.
    ///
    /// With several shards the step first needs the averaged gradient's global norm: each shard sends the workers
    /// its part of the sum of squares (`normShare`), and applies the step when a worker returns the total.
    func completeSyncStepIfReady() throws {
        guard stepAwaitingNorm == nil else { return }
        let ranks = 0 ..< cluster.workers
        guard ranks.contains(where: { pending[$0] != nil }), ranks.allSatisfy({ pending[$0] != nil || !awaited($0) }) else { return }
        let total = skipCurrentStep ? 0 : ranks.reduce(0) { $0 + (pending[$1]?.batch ?? 0) }
        let loss = ranks.reduce(0.0) { $0 + (pending[$1].map { $0.loss * Double($0.batch) } ?? 0) }
        if total > 0 {
            let contributing = ranks.filter { pending[$0]?.hasGradient == true }
            let sumOfSquares = withGradients(of: contributing) { sources in
                sum.withUnsafeMutableBufferPointer { s in
                    VectorOps.weightedSum(of: sources, weights: contributing.map { Float(pending[$0]!.batch) }, times: 1 / Float(total), into: s)
                }
            }
            // A finite sum proves every gradient in it finite. Otherwise those not yet proved are looked at one by
            // one, and the step is summed again without any that holds NaN or infinity.
            if !sumOfSquares.isFinite, try rejectNonFiniteArrivedGradients(of: contributing) {
                return try completeSyncStepIfReady()
            }
            if plan.shards > 1 { return try askForGlobalNorm(samples: total, lossSum: loss) }
            try applyUpdate(gradient: &sum, samples: total, lossSum: loss, staleness: 0, sumOfSquares: sumOfSquares,
                            answering: ranks.filter { pending[$0]?.inParts == true })
        } else {
            version += 1
        }
        try finishSyncStep()
    }

    /// Sync: proves finite the gradients of `ranks` still in the frames they arrived in; each that is not is
    /// rejected (per `cluster.nan_policy`) and leaves the step. Returns whether any gradient was looked at.
    func rejectNonFiniteArrivedGradients(of ranks: [Int]) throws -> Bool {
        let unproved = ranks.filter { pending[$0]?.arrived != nil }
        for rank in unproved {
            let frame = pending[rank]!.arrived!
            pending[rank]!.arrived = nil
            // One pass copies it in and proves it: the copy stands in for the frame from here on.
            let sumOfSquares = frame.withBytes { bytes in
                gradients[rank].withUnsafeMutableBufferPointer { VectorOps.copySumOfSquares(from: bytes, into: $0) }
            }
            if !sumOfSquares.isFinite {
                pending[rank]!.hasGradient = false
                pending[rank]!.batch = 0
                try nonFiniteGradient(from: rank)
            }
        }
        return !unproved.isEmpty
    }

    /// Runs `body` with read access to the gradients of `ranks`, in that order: where they arrived, or the copies.
    func withGradients<R>(of ranks: [Int], _ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
        func nest(_ index: Int, _ taken: [UnsafeBufferPointer<Float>]) -> R {
            guard index < ranks.count else { return body(taken) }
            if let frame = pending[ranks[index]]?.arrived {
                return frame.withBytes { nest(index + 1, taken + [UnsafeBufferPointer(floatsIn: $0)]) }
            }
            return gradients[ranks[index]].withUnsafeBufferPointer { nest(index + 1, taken + [$0]) }
        }
        return nest(0, [])
    }

    /// Answers every worker of the step just applied with the new weights.
    func finishSyncStep() throws {
        skipCurrentStep = false
        let answered = (0 ..< cluster.workers).filter { pending[$0] != nil }
        for rank in answered {
            pending[rank] = nil
            stepsDone[rank] += 1
        }
        // One server checkpoints while its workers compute. Shard 0 of several does it before its weights go out:
        // until then no worker can push the next step, which holds the other shards at this one while it collects them.
        if plan.shards > 1 { try checkpointIfDue() }
        for rank in answered { try sendWeights(to: rank) }
        if plan.shards == 1 { try checkpointIfDue() }
    }

    /// Async applies every push at once. Bounded applies a push only while doing so keeps every other worker's
    /// weights within `staleness` versions of the server's, oldest base first; the rest wait in `pending`.
    func applyQueuedPushes() throws {
        try dropPushesStalerThanTheBound()
        while true {
            let candidates = (0 ..< cluster.workers).filter { pending[$0] != nil }.sorted { (pending[$0]!.base, $0) < (pending[$1]!.base, $1) }
            guard let rank = candidates.first(where: canApply) else { return }
            let push = pending[rank]!
            pending[rank] = nil
            let staleness = Int(version - min(push.base, version))
            if push.hasGradient && push.batch > 0, let frame = push.arrived, stepLeavesGradientUnchanged(sumOfSquares: push.sumOfSquares) {
                try frame.withBytes { bytes in
                    try applyUpdate(unchanged: UnsafeBufferPointer(floatsIn: bytes), samples: push.batch, lossSum: push.loss * Double(push.batch),
                                    staleness: staleness, sumOfSquares: push.sumOfSquares)
                }
            } else if push.hasGradient && push.batch > 0 {
                // Clipping or the optimizer's penalties would change a gradient read where it arrived: it is copied.
                if let frame = push.arrived { frame.withBytes { bytes in gradients[rank].withUnsafeMutableBytes { $0.copyMemory(from: bytes) } } }
                try applyUpdate(gradient: &gradients[rank], samples: push.batch, lossSum: push.loss * Double(push.batch),
                                staleness: staleness, sumOfSquares: push.sumOfSquares, answering: push.inParts ? [rank] : [])
            }
            try consumed(rank)
            try dropPushesStalerThanTheBound()
        }
    }

    /// Bounded: a queued push already staler than the bound can never be applied. Only a worker declared lost
    /// can have one (the others stopped waiting for it); it is consumed unapplied, and the worker, perhaps only
    /// slow, gets the current weights and goes on from them instead of waiting forever.
    func dropPushesStalerThanTheBound() throws {
        guard cluster.mode == .bounded else { return }
        for rank in 0 ..< cluster.workers {
            guard let push = pending[rank], version - min(push.base, version) > UInt64(cluster.staleness) else { continue }
            pending[rank] = nil
            reject(slots[rank]!.peer, reason: "too_stale",
                   "worker \(rank)'s push against version \(push.base) came \(version - push.base) versions late (cluster.staleness \(cluster.staleness))")
            try consumed(rank)
        }
    }

    /// Answers `rank`'s push, applied or not, with the current weights.
    func consumed(_ rank: Int) throws {
        stepsDone[rank] += 1
        try sendWeights(to: rank)
        try checkpointIfDue()
    }

    /// Bounded: whether applying `rank`'s push keeps the run feasible, that is, whether every other worker's next
    /// gradient could still be applied within `staleness` versions of the weights it holds. Applied oldest first,
    /// the i-th of them (0-based, by held version) would land on version `version + 1 + i`. Checking only the
    /// oldest worker is not enough: two workers sharing the oldest version cannot both be applied in time once the
    /// others have run ahead, and every worker would then wait forever.
    func canApply(_ rank: Int) -> Bool {
        guard cluster.mode == .bounded else { return true }
        // A worker not yet registered starts from whatever version is current when it joins: no constraint.
        // A lost worker rejoins at the current version: no constraint either.
        let held = (0 ..< cluster.workers).filter { $0 != rank && slots[$0]?.done != true && slots[$0]?.lostSince == nil }
            .compactMap { slots[$0]?.heldVersion }.sorted()
        let next = version + 1
        return held.enumerated().allSatisfy { i, h in next + UInt64(i) - min(h, next + UInt64(i)) <= UInt64(cluster.staleness) }
    }

    /// Clips, steps the optimizer, advances the version, and records metrics; evaluates at epoch ends.
    /// `sumOfSquares` is the gradient's when known; with several shards it is required, and is the whole
    /// gradient's after clipping by value. The ranks `answering` (whose pushes came in parts, answered next) are
    /// sent each updated piece of the weights while the next is updated; their answers then carry the rest.
    func applyUpdate(gradient: inout [Float], samples: Int, lossSum: Double, staleness: Int, sumOfSquares: Double? = nil,
                     answering: [Int] = []) throws {
        let o = run.config.optimizer
        let started = DispatchTime.now().uptimeNanoseconds
        try gradient.withUnsafeMutableBufferPointer { g in
            let norm = plan.shards > 1
                ? Clipping.clipSlice(g, byValue: o.clipValue, byNorm: o.clipNorm, globalSumOfSquares: sumOfSquares!)
                : Clipping.clip(g, byValue: o.clipValue, byNorm: o.clipNorm, sumOfSquares: sumOfSquares)
            try step(norm: norm, samples: samples, lossSum: lossSum, staleness: staleness, answering: answering, started: started) { piece, p, rate in
                optimizer.apply(to: piece, parameters: p, gradient: g, learningRate: rate)
            }
        }
    }

    /// Whether a gradient of `sumOfSquares` (the whole gradient's, with several shards) would come out of clipping and
    /// the optimizer's penalties unchanged, so that the step can read it where it arrived (`applyUpdate(unchanged:)`).
    func stepLeavesGradientUnchanged(sumOfSquares: Double) -> Bool {
        let o = run.config.optimizer
        guard o.clipValue == nil, !optimizer.changesGradient else { return false }
        return o.clipNorm.map { Clipping.scaleFactor(norm: sumOfSquares.squareRoot(), maxNorm: $0) >= 1 } ?? true
    }

    /// As `applyUpdate(gradient:...)` for a gradient that `stepLeavesGradientUnchanged` accepted, read where it lies.
    func applyUpdate(unchanged gradient: UnsafeBufferPointer<Float>, samples: Int, lossSum: Double, staleness: Int, sumOfSquares: Double) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        try step(norm: sumOfSquares.squareRoot(), samples: samples, lossSum: lossSum, staleness: staleness, answering: [], started: started) { piece, p, rate in
            optimizer.apply(to: piece, parameters: p, unchangedGradient: gradient, learningRate: rate)
        }
    }

    /// The optimizer step (`applyPiece` on each piece of the weights, with the learning rate), then the version,
    /// the metrics and the epoch's evaluation. `started` is when the update began (clipping included).
    private func step(norm: Double, samples: Int, lossSum: Double, staleness: Int, answering: [Int], started: UInt64,
                      _ applyPiece: (Range<Int>, UnsafeMutableBufferPointer<Float>, Double) -> Void) throws {
        let learningRate = schedule.rate(atStep: Int(version))
        // Compressed answers are changes, encoded once the update is whole: no parts then.
        let pieces = answering.isEmpty || cluster.compression != .none ? [0 ..< range.count] : PayloadParts.pieces(count: range.count)
        try weightsForUpdate().withFloats { p in
            optimizer.beginStep()
            for piece in pieces {
                applyPiece(piece, p, learningRate)
                if piece.upperBound < range.count { try sendAhead(piece, to: answering) }
            }
        }
        let optimizerNanoseconds = Int64(DispatchTime.now().uptimeNanoseconds - started)
        version += 1
        samplesApplied += samples
        maxStaleness = max(maxStaleness, staleness)
        interval.updates += 1
        interval.samples += samples
        interval.lossSum += lossSum
        interval.normSum += norm
        interval.maxStaleness = max(interval.maxStaleness, staleness)
        let rate = Double(interval.samples) / max(Date().timeIntervalSince(interval.start), 1e-9)
        recentLoss = interval.lossSum / Double(max(interval.samples, 1))
        recentSamplesPerSecond = rate
        monitoring.updateApplied(samples: samples, staleness: staleness, optimizerNanoseconds: optimizerNanoseconds,
                                 loss: lossSum / Double(max(samples, 1)), learningRate: learningRate)
        progress.step(Int(version), epoch: min(epochsEvaluated + 1, run.config.train.epochs), epochs: run.config.train.epochs,
                      loss: recentLoss!, learningRate: learningRate, samplesPerSecond: rate)
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
            try evaluateEpoch(epochsEvaluated)
        }
    }

    /// Sends `ranks` the updated `piece` of the weights of the version being made, as a `weightsPart`.
    func sendAhead(_ piece: Range<Int>, to ranks: [Int]) throws {
        let header = Header(kind: .weightsPart, jobID: jobID, sender: -1, shard: UInt16(shard), elementType: .float32, version: version + 1,
                            aux: UInt64(piece.lowerBound), count: UInt64(piece.count), layoutHash: run.spec.layout.hash)
        for rank in ranks {
            try transport.send(frames(header, payload: weights.slice(floats: piece)), to: slots[rank]!.peer)
            weightsSentAhead[rank] = (version + 1, piece.upperBound)
        }
    }

    /// Shard 0 evaluates the test set (with several shards, on the whole model assembled from them).
    func evaluateEpoch(_ epoch: Int) throws {
        guard shard == 0, let test = run.test else { return }
        let start = Date()
        let e: Evaluation
        if plan.shards == 1 {
            e = weights.withFloats { evaluate(test, UnsafeBufferPointer($0)) }
        } else {
            e = evaluate(test, try assembleModel(atLeast: cluster.mode == .sync ? version : 0, scope: .weights).model.parameters)
        }
        evaluationSeconds += Date().timeIntervalSince(start)
        monitoring.evaluated(loss: e.loss, accuracy: e.accuracy)
        metrics?.record("evaluation", [
            "step": Double(version), "epoch": Double(epoch), "wall_seconds": Date().timeIntervalSince(serveStart),
            "test_loss": e.loss, "test_accuracy": e.accuracy, "test_mse": e.meanSquaredError, "test_mae": e.meanAbsoluteError,
        ])
        var line = "epoch \(epoch)/\(run.config.train.epochs)  step \(version)" + String(format: "  test_loss %.4f", e.loss)
        if let accuracy = e.accuracy { line += String(format: "  test_accuracy %.2f%%", 100 * accuracy) }
        if let mse = e.meanSquaredError { line += String(format: "  test_mse %.4g", mse) }
        progress.log(line)
    }

    func evaluate(_ data: Dataset, _ parameters: UnsafeBufferPointer<Float>) -> Evaluation {
        network.evaluate(parameters: parameters, inputs: data.features, targets: data.targets, rows: data.rows)
    }

    func evaluate(_ data: Dataset, _ parameters: [Float]) -> Evaluation {
        parameters.withUnsafeBufferPointer { evaluate(data, $0) }
    }
}
