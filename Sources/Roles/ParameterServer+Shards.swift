import Foundation
import Numerics
import Optimizers
import Training
import Transport
import Wire

/// The whole model: parameters and optimizer state, in layout order.
struct ModelState {
    var parameters: [Float]
    var firstMoment: [Float]
    var secondMoment: [Float]
}

/// Server shards: the global norm of a sync step, announced gradient norms, and shard 0 assembling the model.
extension ParameterServer {
    /// Sync with several shards: sends every worker of the step this shard's part of the averaged gradient's sum of
    /// squares (after clipping by value, as one server would measure it), and waits for the total.
    func askForGlobalNorm(samples: Int, lossSum: Double) throws {
        if let limit = run.config.optimizer.clipValue {
            sum.withUnsafeMutableBufferPointer { _ = Clipping.clipByValue($0, limit: Float(limit)) }
        }
        let share = sum.withUnsafeBufferPointer { VectorOps.sumOfSquares($0) }
        stepAwaitingNorm = (samples, lossSum)
        for rank in 0 ..< cluster.workers where pending[rank] != nil {
            let header = Header(kind: .normShare, jobID: jobID, sender: -1, shard: UInt16(shard), version: version, value: share)
            try transport.send(frames(header), to: slots[rank]!.peer)
        }
    }

    /// A worker's total of the shards' shares: the first completes the step; later ones, for a step already
    /// applied, are answered by the weights that step sent.
    func receiveNormTotal(rank: Int, _ h: Header) throws {
        guard let step = stepAwaitingNorm, h.version == version else { return }
        guard h.value.isFinite, h.value >= 0 else {
            return reject(slots[rank]!.peer, reason: "bad_norm", "worker \(rank) sent a global sum of squares of \(h.value)")
        }
        stepAwaitingNorm = nil
        try applyUpdate(gradient: &sum, samples: step.samples, lossSum: step.lossSum, staleness: 0, sumOfSquares: h.value)
        try finishSyncStep()
    }

    /// A worker announces its next push's whole-gradient sum of squares (only sent when there are several shards).
    func receiveGradientNorm(rank: Int, _ h: Header) {
        guard plan.shards > 1 else {
            return reject(slots[rank]!.peer, reason: "unexpected_kind", "gradientNorm sent to the only server of the job")
        }
        announcedNorm[rank] = h.value
    }

    /// Shard 0 asks this shard for its slice; answered now or once the shard gets there.
    func receiveSnapshotRequest(_ peer: PeerID, _ h: Header) throws {
        guard shard > 0 else { return reject(peer, reason: "unexpected_kind", "shard 0 was sent a snapshot request") }
        guard h.shard == UInt16(shard) else {
            return try refuse(peer, "this server is shard \(shard), the request is for shard \(h.shard): give shard 0 the other shards' "
                              + "endpoints in shard order")
        }
        snapshotRequest = (peer, h.version, h.aux == 1)
        try answerSnapshotIfReady()
    }

    /// Sends shard 0 this shard's weights once at the version asked for; a final request waits for every worker to
    /// finish and also carries the optimizer state (first moment, then second, where the optimizer keeps them).
    func answerSnapshotIfReady() throws {
        guard let request = snapshotRequest, version >= request.version, !request.final || allDone else { return }
        snapshotRequest = nil
        var header = Header(kind: .weights, jobID: jobID, sender: -1, shard: UInt16(shard), elementType: .float32, version: version,
                            count: UInt64(range.count), layoutHash: run.spec.layout.hash)
        var payload = weights
        if request.final {
            let moments = [optimizer.firstMoment, optimizer.secondMoment].filter { !$0.isEmpty }
            payload = OutboundFrame(count: 4 * range.count * (1 + moments.count))
            payload.withFloats { out in
                weights.withFloats { UnsafeMutableBufferPointer(rebasing: out[0 ..< range.count]).update(fromContentsOf: $0) }
                for (i, moment) in moments.enumerated() {
                    let start = (i + 1) * range.count
                    UnsafeMutableBufferPointer(rebasing: out[start ..< start + range.count]).update(fromContentsOf: moment)
                }
            }
            header.count = UInt64(range.count * (1 + moments.count))
            header.aux = UInt64(moments.count)
            finalSnapshotServed = true
        }
        try transport.send(frames(header, payload: payload), to: request.peer)
    }

    /// A shard other than 0 whose workers have all finished waits for shard 0 to collect its final slice, within
    /// `cluster.server_timeout`.
    func checkShardZeroCollects(allDoneSince: inout Date?) throws {
        guard shard > 0, allDone, !finalSnapshotServed else { return }
        let since = allDoneSince ?? Date()
        allDoneSince = since
        guard Date().timeIntervalSince(since) > cluster.serverTimeout else { return }
        throw ServerFailure(message: "every worker finished, but shard 0 did not collect shard \(shard)'s weights within "
                            + "\(Int(cluster.serverTimeout)) s (cluster.server_timeout)",
                            hint: "shard 0 evaluates and writes the model: its log says why it stopped")
    }

    /// The whole model: this shard's slice and, fetched from the other shards, theirs, each at `minimum` version or
    /// later; `final` also fetches the optimizer state and waits until every shard's workers have finished.
    func assembleModel(atLeast minimum: UInt64, final: Bool) throws -> ModelState {
        let momentCounts = [optimizer.firstMoment.count, optimizer.secondMoment.count]
        var model = ModelState(parameters: [Float](repeating: 0, count: layoutCount),
                               firstMoment: momentCounts[0] > 0 ? [Float](repeating: 0, count: layoutCount) : [],
                               secondMoment: momentCounts[1] > 0 ? [Float](repeating: 0, count: layoutCount) : [])
        model.parameters.replaceSubrange(range, with: currentParameters)
        if !model.firstMoment.isEmpty { model.firstMoment.replaceSubrange(range, with: optimizer.firstMoment) }
        if !model.secondMoment.isEmpty { model.secondMoment.replaceSubrange(range, with: optimizer.secondMoment) }
        for link in links { try fetchSlice(from: link, atLeast: minimum, final: final, into: &model) }
        return model
    }

    /// Asks `link`'s shard for its slice and waits for it, up to `cluster.server_timeout`.
    func fetchSlice(from link: ShardLink, atLeast minimum: UInt64, final: Bool, into model: inout ModelState) throws {
        let target = plan.range(link.shard)
        let moments = (model.firstMoment.isEmpty ? 0 : 1) + (model.secondMoment.isEmpty ? 0 : 1)
        try link.transport.send(frames(Header(kind: .snapshot, jobID: jobID, sender: -1, shard: UInt16(link.shard), version: minimum,
                                              aux: final ? 1 : 0)))
        var waited = 0.0
        while true {
            guard let received = try link.transport.receive(timeoutMilliseconds: Int(cluster.heartbeatInterval * 1000)) else {
                waited += cluster.heartbeatInterval
                guard waited < cluster.serverTimeout else {
                    throw ServerFailure(message: "shard \(link.shard) sent no weights for \(Int(cluster.serverTimeout)) s (cluster.server_timeout)",
                                        hint: "is every server shard running, and reachable from shard 0? Their logs say more")
                }
                continue
            }
            let done = try withFrameBytes(received) { views -> Bool in
                let message = try Message.decode(views, maxPayloadBytes: maxPayloadBytes)
                let h = message.header
                switch h.kind {
                case .weights:
                    let parts = 1 + (final ? moments : 0)
                    guard h.shard == UInt16(link.shard), h.version >= minimum, h.count == UInt64(target.count * parts),
                          h.aux == UInt64(final ? moments : 0) else {
                        throw ServerFailure(message: "shard \(link.shard) answered with \(h.count) values at version \(h.version) for shard \(h.shard); "
                                            + "shard 0 asked for \(target.count * parts) values at version \(minimum) or later")
                    }
                    // Copied out: a received payload need not be float-aligned.
                    var floats = [Float](repeating: 0, count: Int(h.count))
                    floats.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) }
                    func take(_ part: Int, into destination: inout [Float]) {
                        destination.replaceSubrange(target, with: floats[part * target.count ..< (part + 1) * target.count])
                    }
                    take(0, into: &model.parameters)
                    if final {
                        var part = 1
                        if !model.firstMoment.isEmpty { take(part, into: &model.firstMoment); part += 1 }
                        if !model.secondMoment.isEmpty { take(part, into: &model.secondMoment) }
                    }
                    return true
                case .refuse:
                    throw ServerFailure(message: "shard \(link.shard) refused shard 0: \(message.text ?? "")")
                default:
                    return false
                }
            }
            if done { return }
        }
    }
}
