import Config
import Data
import Foundation
import Models
import Numerics
import Optimizers
import Training
import Transport
import Wire

/// Receiving, validating and answering messages.
extension ParameterServer {
    /// Handles a message, adding the time it takes to `busyNanoseconds`.
    func handleTimed(_ peer: PeerID, _ frames: [any InboundFrame]) throws {
        try timedAsBusy { try handle(peer, frames) }
    }

    /// Runs `work` and counts its time as busy (`pstrain status`'s busy time): all the server does but wait.
    func timedAsBusy<R>(_ work: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { busyNanoseconds += DispatchTime.now().uptimeNanoseconds - start }
        return try work()
    }

    func handle(_ peer: PeerID, _ frames: [any InboundFrame]) throws {
        try withFrameBytes(frames) { views in
            if let first = views.first, SharedPayloadReference.looksLikeReference(first) {
                return try answerUnresolvedSharedPayload(peer, views)
            }
            let message: Message
            do {
                message = try Message.decode(views, maxPayloadBytes: maxPayloadBytes)
            } catch let error as WireError {
                reject(peer, reason: error.reason, error.description)
                if case .protocolVersion = error {
                    // Told every time, logged once (by `reject`): a flood must not flood the log too.
                    try refuse(peer, "protocol: \(error.description)", quietly: true)
                }
                return
            }
            try dispatch(peer, message, payloadFrame: frames.count == 2 ? frames[1] : nil)
        }
    }

    /// A payload in shared memory that the transport could not find: the peer has no segment here (this server
    /// restarted since it registered) or named a slot wrongly. A stranger is told to register again (it then goes
    /// on over the connection); a registered worker's message is dropped, and a push answered with the weights.
    func answerUnresolvedSharedPayload(_ peer: PeerID, _ views: [UnsafeRawBufferPointer]) throws {
        guard views.count == 2, let h = try? Header.decode(views[1]) else {
            return reject(peer, reason: "shared_payload", "a malformed reference to a payload in shared memory")
        }
        guard let rank = rankOfPeer[peer] else { return try answerUnknownPeer(peer, h) }
        reject(peer, reason: "shared_payload", "worker \(rank)'s \(h.kind) names a payload in shared memory that this server does not hold")
        if h.kind == .push { try sendWeights(to: rank) }
    }

    /// Acts on `message`; `payloadFrame` is the frame its payload lies in, for a push read where it arrived.
    func dispatch(_ peer: PeerID, _ message: Message, payloadFrame: (any InboundFrame)? = nil) throws {
        let h = message.header
        // Anyone who can reach the port may read the state (`pstrain status` knows no job id).
        if h.kind == .stats { return try dispatchStats(peer) }
        if h.kind == .shardJoin {
            return try refuse(peer, "shard \(shard) is serving with all \(plan.shards) shards: a shard joins only while shard 0 starts "
                              + "(check DMLC_NUM_SERVER, and start every server of the job together)")
        }
        if h.kind != .snapshot && h.shard != UInt16(shard) {
            guard h.kind != .register else {
                return try refuse(peer, "this server is shard \(shard) of \(plan.shards); the worker addressed shard \(h.shard): "
                                  + "give every worker all the shards' endpoints, in shard order")
            }
            return reject(peer, reason: "wrong_shard", "a message for shard \(h.shard) reached shard \(shard)")
        }
        if h.kind == .register { return try register(peer, message) }
        if h.kind == .dataFacts { return try answerDataFacts(peer, h) }
        guard h.jobID == jobID else { return reject(peer, reason: "job_id", "job id \(h.jobID) is not this job's") }
        if h.kind == .snapshot || h.kind == .restore {
            // Only shard 0 reads and sets another shard's state: a worker's key must not let it replace parameters.
            guard transport.peerHoldsServerKey(peer) else {
                return reject(peer, reason: "not_a_shard", "a \(h.kind) request from a peer without the servers' key pair")
            }
            return h.kind == .snapshot ? try receiveSnapshotRequest(peer, h) : try receiveRestore(peer, message)
        }
        if h.kind == .heartbeat && h.aux == HeartbeatPurpose.shardProbe.rawValue { return try answerProbe(peer, h) }
        guard let rank = rankOfPeer[peer] else { return try answerUnknownPeer(peer, h) }
        seen(rank)
        switch h.kind {
        case .pull:
            try sendWeights(to: rank, full: true)
        case .push:
            try receivePush(rank: rank, message, payloadFrame: payloadFrame)
        case .pushPart:
            try receivePushPart(rank: rank, message)
        case .heartbeat:
            break
        case .barrier:
            slots[rank]!.done = true
            log("worker \(rank) finished")
            try applyWhatNoLongerWaits()
        case .gradientNorm:
            receiveGradientNorm(rank: rank, h)
        case .normTotal:
            try receiveNormTotal(rank: rank, h)
        case .register, .stats, .welcome, .refuse, .weights, .weightsPart, .shutdown, .normShare, .snapshot, .shardJoin, .restore, .dataFacts:
            reject(peer, reason: "unexpected_kind", "a worker does not send \(h.kind)")
        }
    }

    /// Tells a worker about to register what the whole data set is, for it to read only its shard's rows; refuses
    /// another job's worker, as registering would.
    func answerDataFacts(_ peer: PeerID, _ h: Header) throws {
        guard h.jobID == jobID else { return try refuse(peer, anotherConfig(workerJobID: h.jobID)) }
        try transport.send(textFrames(Header(kind: .dataFacts, jobID: jobID, sender: -1, shard: UInt16(shard)), run.facts.json), to: peer)
    }

    func refuse(_ peer: PeerID, _ reason: String, _ refusal: Refusal = .final, quietly: Bool = false) throws {
        if refusal == .final && !quietly { log("refused peer \(peer): \(reason)") }
        try transport.send(textFrames(Header(kind: .refuse, jobID: jobID, sender: -1, shard: UInt16(shard), aux: refusal.rawValue), reason), to: peer)
    }

    /// Counts a rejected message and logs it once per peer.
    func reject(_ peer: PeerID, reason: String, _ detail: String) {
        rejects[reason, default: 0] += 1
        monitoring.rejected(reason: reason)
        if reportedPeers.insert(peer).inserted {
            let who = rankOfPeer[peer].map { "worker \($0)" } ?? "peer \(peer)"
            log("rejected a message from \(who): \(detail) (further rejects from it are counted, not logged)")
        }
    }

    /// Sends `rank` the current weights: all of them (`full`, or without compression), else the change since the
    /// weights it was last sent, compressed.
    func sendWeights(to rank: Int, full: Bool = false) throws {
        var header = Header(kind: .weights, jobID: jobID, sender: -1, shard: UInt16(shard), elementType: .float32, version: version,
                            count: UInt64(range.count), layoutHash: run.spec.layout.hash)
        var payload = weights
        if let ahead = weightsSentAhead[rank] {
            weightsSentAhead[rank] = nil
            if ahead.version == version && cluster.compression == .none && !full {
                header.count = UInt64(range.count - ahead.end)
                payload = weights.slice(floats: ahead.end ..< range.count)
            }
        }
        if cluster.compression != .none {
            weights.withFloats { w in
                let current = UnsafeBufferPointer(w)
                if full || slots[rank]!.weightsCopy == nil {
                    // Workers sent the whole weights at the same version hold the same: one lineage.
                    let lineage = wholeWeights.version == version ? wholeWeights.lineage ?? WeightsLineage(buffers: changeBuffers)
                        : WeightsLineage(buffers: changeBuffers)
                    wholeWeights = WholeWeightsPoint(version: version, lineage: lineage)
                    slots[rank]!.weightsCopy = WorkerWeightsCopy(weights: current, lineage: lineage,
                                                                 compression: cluster.compression, fraction: cluster.topkFraction)
                } else {
                    let (delta, count) = slots[rank]!.weightsCopy!.delta(to: current, version: version)
                    payload = delta
                    header.elementType = slots[rank]!.weightsCopy!.encoder.elementType
                    header.count = UInt64(count)
                    header.aux = slots[rank]!.weightsCopy!.sequence
                    monitoring.compressionBuffersHeld(bytes: changeBuffers.liveBytes)
                }
            }
        }
        try transport.send(frames(header, payload: payload), to: slots[rank]!.peer)
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
        } ?? OutboundFrame(count: 4 * range.count)
        next.withMutableBytes { $0.copyMemory(from: weights.bytes) }
        spareWeights = weights
        swap(&weights, &next)
        return weights
    }

    func receivePush(rank: Int, _ message: Message, payloadFrame: (any InboundFrame)? = nil) throws {
        let h = message.header
        let peer = slots[rank]!.peer
        if slots[rank]!.done { return reject(peer, reason: "after_barrier", "worker \(rank) pushed after finishing") }
        guard pending[rank] == nil else {
            return reject(peer, reason: "duplicate_push", "worker \(rank) pushed again before its last push was answered")
        }
        let parts = partialPushes[rank]
        partialPushes[rank] = nil
        var push = PendingPush(base: h.version, batch: Int(clamping: h.aux), loss: h.value, hasGradient: h.elementType != .none,
                               sumOfSquares: 0, inParts: parts != nil)
        if let parts, !(h.elementType == .float32 && h.version == parts.base && h.count == UInt64(range.count - parts.received)) {
            reject(peer, reason: "bad_part", "worker \(rank)'s push (\(h.count) \(h.elementType) values against version \(h.version)) does not "
                   + "complete its parts (\(parts.received) of \(range.count) values against version \(parts.base))")
            return try sendWeights(to: rank)
        }
        // With several shards the worker announced its whole gradient's sum of squares just before the push.
        let announced = announcedNorm[rank]
        announcedNorm[rank] = nil
        if push.hasGradient && parts == nil && h.elementType != .sparseFloat32 && h.count != UInt64(range.count) {
            reject(peer, reason: "gradient_size", plan.shards == 1 ? "gradient of \(h.count) values; the model has \(range.count)"
                : "gradient slice of \(h.count) values; shard \(shard) holds \(range.count)")
            return try sendWeights(to: rank)
        }
        if push.hasGradient && plan.shards > 1 && announced == nil {
            reject(peer, reason: "missing_norm", "worker \(rank) pushed to a shard without announcing its gradient's norm")
            return try sendWeights(to: rank)
        }
        if cluster.mode == .sync && push.base != version {
            // A worker back from a silence, or a push that crossed a step: it gets the current weights and
            // continues at the current step.
            reject(peer, reason: "wrong_version", "sync push against version \(push.base); the server is at \(version)")
            return try sendWeights(to: rank)
        }
        let inPlace = push.hasGradient && payloadFrame != nil && canReadWhereItArrived(h, payload: message.payload, inParts: parts != nil)
        if inPlace && cluster.mode == .sync && announced?.isFinite != false {
            // Sync sums its workers' gradients into a buffer of its own anyway: the sum reads this one where it lies,
            // and proves it finite with the others.
            push.arrived = payloadFrame
        } else if push.hasGradient, let payload = message.payload {
            if inPlace {
                // Async and bounded read it where it lies too, but prove it finite and measure it now: no step may
                // start on a gradient not proved, and a bounded push may wait.
                push.arrived = payloadFrame
                push.sumOfSquares = VectorOps.sumOfSquares(UnsafeBufferPointer(floatsIn: payload))
            } else {
                // One pass copies the gradient in (decoding it), proves it finite, and measures it for clipping.
                do {
                    let start = parts?.received ?? 0
                    push.sumOfSquares = try gradients[rank].withUnsafeMutableBufferPointer { g in
                        h.elementType == .float32 ? VectorOps.copySumOfSquares(from: payload, into: UnsafeMutableBufferPointer(rebasing: g[start...]))
                            : try PayloadCodec.decode(message, into: g, adding: false)
                    } + (parts?.sumOfSquares ?? 0)
                } catch let error as WireError {
                    reject(peer, reason: error.reason, "worker \(rank)'s gradient: \(error)")
                    return try sendWeights(to: rank)
                }
            }
            // Every shard judges the whole gradient alike, by the announced norm, so all of them apply it or none.
            if let announced, push.sumOfSquares.isFinite { push.sumOfSquares = announced }
            if !push.sumOfSquares.isFinite {
                try nonFiniteGradient(from: rank)
                push.hasGradient = false
                push.arrived = nil
            }
        } else {
            push.hasGradient = false
        }
        if !push.hasGradient { push.batch = 0 }
        pending[rank] = push
        switch cluster.mode {
        case .sync: try completeSyncStepIfReady()
        case .async, .bounded: try applyQueuedPushes()
        }
    }

    /// Whether a push's gradient can stay in its frame until its step reads it: a whole little-endian float32
    /// gradient, aligned for reading as floats.
    func canReadWhereItArrived(_ header: Header, payload: UnsafeRawBufferPointer?, inParts: Bool) -> Bool {
        #if _endian(little)
        guard header.elementType == .float32, !inParts, let base = payload?.baseAddress else { return false }
        return Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0
        #else
        return false
        #endif
    }

    /// Takes in a leading part of `rank`'s next push: copies it into place and measures it, while the rest travels.
    func receivePushPart(rank: Int, _ message: Message) throws {
        let h = message.header
        let peer = slots[rank]!.peer
        let received = partialPushes[rank]
        partialPushes[rank] = nil
        if slots[rank]!.done { return reject(peer, reason: "after_barrier", "worker \(rank) pushed after finishing") }
        guard pending[rank] == nil else {
            return reject(peer, reason: "duplicate_push", "worker \(rank) pushed again before its last push was answered")
        }
        // A part at 0 starts a push afresh (what came before it was never completed); any other continues one.
        let continued = h.aux == 0 ? nil : received
        let offset = continued?.received ?? 0
        // The push itself carries the last piece: a part leaves at least one value for it.
        guard h.aux == UInt64(offset), h.version == continued?.base ?? h.version, h.count > 0, h.count < UInt64(range.count - offset),
              let payload = message.payload else {
            return reject(peer, reason: "bad_part", "worker \(rank)'s push part at \(h.aux) with \(h.count) values against version \(h.version); "
                          + "expected one at \(offset) against version \(continued.map { "\($0.base)" } ?? "any"), short of \(range.count) values")
        }
        let end = offset + Int(h.count)
        let sumOfSquares = gradients[rank].withUnsafeMutableBufferPointer { g in
            VectorOps.copySumOfSquares(from: payload, into: UnsafeMutableBufferPointer(rebasing: g[offset ..< end]))
        }
        partialPushes[rank] = PartialPush(base: h.version, received: end, sumOfSquares: (continued?.sumOfSquares ?? 0) + sumOfSquares)
    }

    /// A gradient with NaN or infinity in it is never applied; `cluster.nan_policy` says what else happens.
    func nonFiniteGradient(from rank: Int) throws {
        reject(slots[rank]!.peer, reason: "non_finite", "gradient with NaN or infinity from worker \(rank)")
        switch cluster.nanPolicy {
        case .reject: break
        case .skipStep: skipCurrentStep = cluster.mode == .sync
        case .fail:
            throw ServerFailure(message: "worker \(rank) sent a gradient with NaN or infinity at step \(version) (cluster.nan_policy: fail)",
                                hint: "lower optimizer.lr, set optimizer.clip_norm, or check the worker's data shard")
        }
    }
}
