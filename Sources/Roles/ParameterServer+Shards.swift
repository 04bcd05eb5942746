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

/// What a shard other than 0 hands shard 0 after its final slice, for the job's summary: its traffic (with the
/// workers and with shard 0), the messages it rejected, and the largest staleness of a gradient it applied.
struct ShardTally: Codable, Equatable {
    var bytesSent = 0
    var bytesReceived = 0
    var rejectedMessages = 0
    var maxStaleness = 0

    /// Both tallies, traffic and rejects summed, staleness the larger.
    func adding(_ other: ShardTally) -> ShardTally {
        ShardTally(bytesSent: bytesSent + other.bytesSent, bytesReceived: bytesReceived + other.bytesReceived,
                   rejectedMessages: rejectedMessages + other.rejectedMessages, maxStaleness: max(maxStaleness, other.maxStaleness))
    }
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
        guard let scope = SnapshotScope(rawValue: h.aux) else {
            return reject(peer, reason: "bad_scope", "a snapshot request of unknown scope \(h.aux)")
        }
        snapshotRequest = (peer, h.version, scope)
        try answerSnapshotIfReady()
    }

    /// Sends shard 0 this shard's weights once at the version asked for; a final request waits for every worker to
    /// finish. Final and checkpoint requests also get the optimizer state (first moment, then second, where the
    /// optimizer keeps them).
    func answerSnapshotIfReady() throws {
        guard let request = snapshotRequest, version >= request.version, request.scope != .final || allDone else { return }
        snapshotRequest = nil
        var header = Header(kind: .weights, jobID: jobID, sender: -1, shard: UInt16(shard), elementType: .float32, version: version,
                            count: UInt64(range.count), layoutHash: run.spec.layout.hash)
        var payload = weights
        if request.scope != .weights {
            let moments = [optimizer.firstMoment, optimizer.secondMoment].filter { !$0.isEmpty }.map { $0[...] }
            payload = weights.withFloats { stateFrame(parameters: UnsafeBufferPointer($0), moments: moments) }
            header.count = UInt64(range.count * (1 + moments.count))
            header.aux = UInt64(moments.count)
        }
        if request.scope == .checkpoint && stop.requested != nil { stopSnapshotServed = true }
        try transport.send(frames(header, payload: payload), to: request.peer)
        if request.scope == .final { finalSnapshotTaker = request.peer }
    }

    /// A shard other than 0, its workers shut down: sends shard 0 its tally for the summary, after its final slice.
    func sendTally() throws {
        guard let peer = finalSnapshotTaker else { return }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let text = String(decoding: try encoder.encode(ownTally), as: UTF8.self)
        try transport.send(textFrames(Header(kind: .stats, jobID: jobID, sender: -1, shard: UInt16(shard), version: version), text), to: peer)
    }

    /// This server's part of the job's tally: its traffic, with workers and (shard 0) on its links to the other shards.
    var ownTally: ShardTally {
        let traffic = [transport.traffic] + links.map(\.transport.traffic)
        return ShardTally(bytesSent: traffic.reduce(0) { $0 + $1.bytesSent }, bytesReceived: traffic.reduce(0) { $0 + $1.bytesReceived },
                          rejectedMessages: rejects.values.reduce(0, +), maxStaleness: maxStaleness)
    }

    /// Shard 0, once every slice is final: the other shards' tallies together, each sent after its final slice.
    func otherShardsTally() throws -> ShardTally {
        try links.reduce(ShardTally()) { total, link in
            total.adding(try awaitAnswer(from: link, waitingFor: "its tally for the summary") { message -> ShardTally? in
                guard message.header.kind == .stats else { return nil }
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                do { return try decoder.decode(ShardTally.self, from: Data((message.text ?? "").utf8)) } catch {
                    throw ServerFailure(message: "shard \(link.shard) sent a tally that does not read: \(error)")
                }
            })
        }
    }

    /// One frame holding `parameters`, then each of `moments`, all of the same length.
    func stateFrame(parameters: UnsafeBufferPointer<Float>, moments: [ArraySlice<Float>]) -> OutboundFrame {
        let n = parameters.count
        let frame = OutboundFrame(count: 4 * n * (1 + moments.count))
        frame.withFloats { out in
            _ = UnsafeMutableBufferPointer(rebasing: out[0 ..< n]).update(fromContentsOf: parameters)
            for (i, moment) in moments.enumerated() {
                _ = UnsafeMutableBufferPointer(rebasing: out[(i + 1) * n ..< (i + 2) * n]).update(fromContentsOf: moment)
            }
        }
        return frame
    }

    /// Shard 0, resuming a sharded job: hands every other shard its slice of the state this server resumed (the
    /// checkpoint's, or the initial model's when there is none yet), and waits until each has taken it. A shard
    /// that kept running since forgets its workers and goes back to that state with the rest of the job.
    public func restoreOtherShards() throws {
        guard shard == 0 else { return }
        let zeros = [Float](repeating: 0, count: layoutCount)
        let state = resumedFrom.map { ModelState(parameters: $0.parameters, firstMoment: $0.firstMoment, secondMoment: $0.secondMoment) }
            ?? ModelState(parameters: Self.initialModel(of: run), firstMoment: optimizer.firstMoment.isEmpty ? [] : zeros,
                          secondMoment: optimizer.secondMoment.isEmpty ? [] : zeros)
        let step = resumedFrom?.step ?? 0, optimizerStep = resumedFrom?.optimizerStep ?? 0
        for link in links {
            let target = plan.range(link.shard)
            let moments = [state.firstMoment, state.secondMoment].filter { !$0.isEmpty }.map { $0[target] }
            let payload = state.parameters[target].withUnsafeBufferPointer { stateFrame(parameters: $0, moments: moments) }
            let header = Header(kind: .restore, jobID: jobID, sender: -1, shard: UInt16(link.shard), elementType: .float32, version: UInt64(step),
                                aux: UInt64(moments.count), count: UInt64(target.count * (1 + moments.count)), layoutHash: run.spec.layout.hash,
                                value: Double(optimizerStep))
            try link.transport.send(frames(header, payload: payload))
            try awaitAnswer(from: link, waitingFor: "to take the state of step \(step)") { message -> Bool? in
                guard message.header.kind == .restore else { return nil }
                guard message.header.version == UInt64(step) else {
                    throw ServerFailure(message: "shard \(link.shard) took the state of step \(message.header.version); shard 0 sent step \(step)")
                }
                return true
            }
        }
        watchFrom(step: UInt64(step))
        log("every server shard is back at step \(step)")
    }

    /// Another shard: shard 0 resumed the job and sends this shard's slice of the state to go on from (see `restore`).
    /// Workers that registered before are forgotten: they register again and start where shard 0's welcome says.
    func receiveRestore(_ peer: PeerID, _ message: Message) throws {
        let h = message.header
        guard shard > 0 else { return reject(peer, reason: "unexpected_kind", "shard 0 was sent a restore") }
        let moments = [optimizer.firstMoment, optimizer.secondMoment].filter { !$0.isEmpty }.count
        guard h.elementType == .float32, h.aux == UInt64(moments), h.count == UInt64(range.count * (1 + moments)), message.payload != nil,
              h.value >= 0, h.value == h.value.rounded(), h.value < 0x1p53 else {
            return try refuse(peer, "shard \(shard) holds \(range.count) parameters and \(moments) moment vector(s); the restore carries \(h.count) "
                              + "\(h.elementType) values, \(h.aux) moment vector(s), optimizer step \(h.value): start every shard from the same config")
        }
        // Copied out: a received payload need not be float-aligned.
        var state = [Float](repeating: 0, count: Int(h.count))
        state.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) }
        guard state.allSatisfy(\.isFinite) else { return try refuse(peer, "the restored state of shard \(shard) is not finite") }
        let n = range.count
        let first = moments > 0 && !optimizer.firstMoment.isEmpty ? Array(state[n ..< 2 * n]) : []
        let second = optimizer.secondMoment.isEmpty ? [] : Array(state[moments * n ..< (moments + 1) * n])
        do { try optimizer.restore(step: Int(h.value), firstMoment: first, secondMoment: second) } catch {
            return try refuse(peer, "shard \(shard) cannot take the optimizer state: \(error)")
        }
        weightsForUpdate().withFloats { _ = $0.update(fromContentsOf: state[0 ..< n]) }
        version = h.version
        for rank in 0 ..< cluster.workers {
            slots[rank] = nil
            pending[rank] = nil
            partialPushes[rank] = nil
            weightsSentAhead[rank] = nil
            announcedNorm[rank] = nil
        }
        rankOfPeer = [:]
        waitingToJoin = [:]
        returnAwaitedSince = version > 0 ? Date() : nil
        neverReturned = []
        wholeWeights = WholeWeightsPoint()
        stepAwaitingNorm = nil
        snapshotRequest = nil
        finalSnapshotTaker = nil
        skipCurrentStep = false
        log("shard \(shard): shard 0 resumed the job at step \(version); taken its state, workers register again")
        try transport.send(frames(Header(kind: .restore, jobID: jobID, sender: -1, shard: UInt16(shard), version: version)), to: peer)
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
    /// later, with the optimizer state unless `scope` is `.weights`; `.final` waits until every shard's workers have
    /// finished. Also returns the version each other shard answered at, in shard order.
    func assembleModel(atLeast minimum: UInt64, scope: SnapshotScope, waiting: TimeInterval? = nil) throws -> (model: ModelState, versions: [UInt64]) {
        let momentCounts = [optimizer.firstMoment.count, optimizer.secondMoment.count]
        var model = ModelState(parameters: [Float](repeating: 0, count: layoutCount),
                               firstMoment: momentCounts[0] > 0 ? [Float](repeating: 0, count: layoutCount) : [],
                               secondMoment: momentCounts[1] > 0 ? [Float](repeating: 0, count: layoutCount) : [])
        model.parameters.replaceSubrange(range, with: currentParameters)
        if !model.firstMoment.isEmpty { model.firstMoment.replaceSubrange(range, with: optimizer.firstMoment) }
        if !model.secondMoment.isEmpty { model.secondMoment.replaceSubrange(range, with: optimizer.secondMoment) }
        let versions = try links.map { try fetchSlice(from: $0, atLeast: minimum, scope: scope, waiting: waiting, into: &model) }
        return (model, versions)
    }

    /// Asks `link`'s shard for its slice and waits for it, up to `waiting` seconds (default: `cluster.server_timeout`);
    /// returns its version.
    func fetchSlice(from link: ShardLink, atLeast minimum: UInt64, scope: SnapshotScope, waiting: TimeInterval?,
                    into model: inout ModelState) throws -> UInt64 {
        let target = plan.range(link.shard)
        let withState = scope != .weights
        let moments = withState ? (model.firstMoment.isEmpty ? 0 : 1) + (model.secondMoment.isEmpty ? 0 : 1) : 0
        try link.transport.send(frames(Header(kind: .snapshot, jobID: jobID, sender: -1, shard: UInt16(link.shard), version: minimum,
                                              aux: scope.rawValue)))
        return try awaitAnswer(from: link, waitingFor: "weights", upTo: waiting) { message -> UInt64? in
            let h = message.header
            guard h.kind == .weights else { return nil }
            guard h.shard == UInt16(link.shard), h.version >= minimum, h.count == UInt64(target.count * (1 + moments)), h.aux == UInt64(moments) else {
                throw ServerFailure(message: "shard \(link.shard) answered with \(h.count) values at version \(h.version) for shard \(h.shard); "
                                    + "shard 0 asked for \(target.count * (1 + moments)) values at version \(minimum) or later")
            }
            // Copied out: a received payload need not be float-aligned.
            var floats = [Float](repeating: 0, count: Int(h.count))
            floats.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) }
            func take(_ part: Int, into destination: inout [Float]) {
                destination.replaceSubrange(target, with: floats[part * target.count ..< (part + 1) * target.count])
            }
            take(0, into: &model.parameters)
            if withState {
                var part = 1
                if !model.firstMoment.isEmpty { take(part, into: &model.firstMoment); part += 1 }
                if !model.secondMoment.isEmpty { take(part, into: &model.secondMoment) }
            }
            return h.version
        }
    }

    /// Waits for `link`'s shard to answer, up to `limit` seconds (default: `cluster.server_timeout`): `take` makes
    /// something of a message, or returns nil to go on waiting; a refusal ends the wait with its reason. The shard is
    /// probed meanwhile, once a heartbeat interval, so that one gone silent is logged long before the wait gives up.
    @discardableResult
    func awaitAnswer<T>(from link: ShardLink, waitingFor what: String, upTo limit: TimeInterval? = nil, _ take: (Message) throws -> T?) throws -> T {
        let limit = limit ?? cluster.serverTimeout
        let deadline = Date().addingTimeInterval(limit)
        var probedAt = Date.distantPast
        while true {
            if Date().timeIntervalSince(probedAt) >= cluster.heartbeatInterval {
                probedAt = Date()
                try probe(link, waiting: (what, limit))
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw ServerFailure(message: "shard \(link.shard) sent no answer (\(what)) within \(String(format: "%g", limit)) s"
                                    + (limit == cluster.serverTimeout ? " (cluster.server_timeout)" : ""),
                                    hint: "is every server shard running, and reachable from shard 0? Their logs say more")
            }
            guard let received = try link.transport.receive(timeoutMilliseconds: max(1, Int(min(left, cluster.heartbeatInterval) * 1000))) else {
                continue
            }
            let answer = try withFrameBytes(received) { views -> T? in
                let message = try Message.decode(views, maxPayloadBytes: maxPayloadBytes)
                if try takeProbeAnswer(message.header, from: link) { return nil }
                heard(from: link, atStep: message.header.version)
                if message.header.kind == .refuse { throw ServerFailure(message: "shard \(link.shard) refused shard 0: \(message.text ?? "")") }
                return try take(message)
            }
            if let answer { return answer }
        }
    }
}
