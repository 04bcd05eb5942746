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

}
