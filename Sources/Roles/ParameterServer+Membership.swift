import Config
import Foundation
import Training
import Transport
import Wire

/// Who is in the job: registration, workers lost to silence, their return or replacement, and the
/// `on_worker_failure` policy.
extension ParameterServer {
    /// Why a worker whose job id is `workerJobID`, not this job's, is refused.
    func anotherConfig(workerJobID: UInt64) -> String {
        "this worker was started with another config than the server (job id \(workerJobID), server's \(jobID)); "
            + "start every process from the same config file and overrides"
    }

    func register(_ peer: PeerID, _ message: Message) throws {
        let h = message.header
        guard h.jobID == jobID else { return try refuse(peer, anotherConfig(workerJobID: h.jobID)) }
        guard cluster.compression == .none || CompressionSupport(rawValue: h.aux).contains(cluster.compression == .fp16 ? .float16 : .sparse) else {
            return try refuse(peer, "this job sends \(cluster.compression.rawValue) payloads (cluster.compression) and this worker cannot "
                              + "read or write them: run the same pstrain release everywhere")
        }
        guard h.layoutHash == run.spec.layout.hash else {
            return try refuse(peer, "model layout differs: the server trains \(run.modelDescription) (layout hash \(run.spec.layout.hash)), "
                              + "the worker's layout hash is \(h.layoutHash)")
        }
        if let existing = rankOfPeer[peer] { return try welcome(peer, rank: existing) }
        let facts = message.text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]
        let offer = SharedPayloadOffer(json: facts?["shared_memory"])
        let requested = Int(h.sender)
        let rank: Int
        if requested >= 0 {
            guard requested < cluster.workers else {
                return try refuse(peer, "rank \(requested) is outside this job's \(cluster.workers) workers (0...\(cluster.workers - 1))")
            }
            if let holder = slots[requested] {
                guard !holder.done else { return try refuse(peer, "rank \(requested) has already finished its work") }
                guard holder.lostSince != nil else {
                    // Kept for the admission, for peers still waiting only: a flood of such registrations holds nothing.
                    sharedPayloadOffers = sharedPayloadOffers.filter { $0.key != peer && waitingToJoin.values.contains($0.key) }
                    sharedPayloadOffers[peer] = offer
                    if waitingToJoin.updateValue(peer, forKey: requested) == nil {
                        log("a new worker asks for rank \(requested), which a live worker holds: it joins if that one stays silent "
                            + String(format: "for %.1f s (cluster.heartbeat_timeout)", cluster.heartbeatTimeout))
                    }
                    return
                }
            }
            rank = requested
        } else {
            guard let free = slots.firstIndex(where: { $0 == nil }) ?? slots.firstIndex(where: { $0?.lostSince != nil }) else {
                return try refuse(peer, "all \(cluster.workers) worker ranks are taken")
            }
            rank = free
        }
        try admit(peer, rank: rank, offering: offer)
    }

    /// Gives `rank` to `peer`: a first registration, or the replacement of a lost worker; maps the shared memory
    /// segment it `offering`, if it can.
    func admit(_ peer: PeerID, rank: Int, offering offer: SharedPayloadOffer?) throws {
        if let old = slots[rank] {
            rankOfPeer[old.peer] = nil
            transport.detachSharedPayloads(from: old.peer)
            pending[rank] = nil
            announcedNorm[rank] = nil
            partialPushes[rank] = nil
            weightsSentAhead[rank] = nil
            if let index = lostWorkers.lastIndex(where: { $0.rank == rank && $0.rejoinedAtStep == nil }) {
                lostWorkers[index].rejoinedAtStep = Int(version)
            }
            log("worker \(rank) rejoined at step \(version), replacing the lost one")
        } else if neverReturned.remove(rank) != nil {
            if let index = lostWorkers.lastIndex(where: { $0.rank == rank && $0.rejoinedAtStep == nil }) {
                lostWorkers[index].rejoinedAtStep = Int(version)
            }
            log("worker \(rank) is back at step \(version), after the restart went on without it")
        }
        slots[rank] = WorkerSlot(peer: peer, lastSeen: Date(), heldVersion: version)
        rankOfPeer[peer] = rank
        if waitingToJoin[rank] == peer { waitingToJoin[rank] = nil }
        var how = ""
        if let offer {
            do {
                try transport.attachSharedPayloads(offer, to: peer)
                slots[rank]!.sharedPayloads = true
                how = ", payloads through shared memory"
            } catch {
                how = ", payloads over the connection (\(error))"
            }
        }
        log("worker \(rank) registered (\(slots.compactMap { $0 }.count)/\(cluster.workers))\(how)")
        startTrainingIfEveryRankIsIn()
        try welcome(peer, rank: rank)
    }

    /// Training starts once every rank has registered (or, after a restart, was given up on).
    func startTrainingIfEveryRankIsIn() {
        guard startTime == nil, slots.indices.allSatisfy({ slots[$0] != nil || neverReturned.contains($0) }) else { return }
        startTime = Date()
        monitoring.entered(.training)
    }

    /// The welcome: the job's facts, and where this rank starts. A sync worker starts at the server's version
    /// (every worker takes one step per version); an async or bounded worker after its last consumed push.
    func welcome(_ peer: PeerID, rank: Int) throws {
        let steps = cluster.mode == .sync ? stepsPerEpoch.max()! : stepsPerEpoch[rank]
        let facts: [String: Any] = ["rank": rank, "workers": cluster.workers, "mode": cluster.mode.rawValue, "version": version,
                                    "steps_per_epoch": steps, "start_step": cluster.mode == .sync ? Int(version) : stepsDone[rank],
                                    "shard": shard, "servers": plan.shards, "parameters": [range.lowerBound, range.upperBound],
                                    "compression": cluster.compression.rawValue, "topk_fraction": cluster.topkFraction,
                                    "shared_memory": slots[rank]?.sharedPayloads ?? false]
        let header = Header(kind: .welcome, jobID: jobID, sender: -1, shard: UInt16(shard), version: version, aux: UInt64(rank))
        try transport.send(textFrames(header, json(facts)), to: peer)
    }

    /// A message from a peer with no rank. A peer waiting for a rank may heartbeat; anyone else is told to
    /// register: after a restart from a checkpoint, that is how the workers of the old server come back.
    func answerUnknownPeer(_ peer: PeerID, _ h: Header) throws {
        if waitingToJoin.values.contains(peer) && h.kind == .heartbeat { return }
        reject(peer, reason: "unregistered", "\(h.kind) from a peer that has not registered")
        try refuse(peer, "this server does not know this worker (it was restarted, or the worker was replaced): register again",
                   .registerAgain, quietly: true)
    }

    /// Notes that `rank` was heard from; a lost worker that speaks again is back.
    func seen(_ rank: Int) {
        slots[rank]!.lastSeen = Date()
        guard let since = slots[rank]!.lostSince else { return }
        slots[rank]!.lostSince = nil
        if let index = lostWorkers.lastIndex(where: { $0.rank == rank && $0.rejoinedAtStep == nil }) {
            lostWorkers[index].rejoinedAtStep = Int(version)
        }
        log(String(format: "worker %d is back after %.1f s lost, at step %d", rank, Date().timeIntervalSince(since), version))
    }

    /// Whether the current sync step waits for `rank`'s push.
    func awaited(_ rank: Int) -> Bool {
        // Not registered yet (start-up, or after a restart) and not given up on.
        guard let slot = slots[rank] else { return !neverReturned.contains(rank) }
        if slot.done { return false }
        return slot.lostSince == nil || cluster.onWorkerFailure == .wait
    }

    /// Declares lost each worker silent for longer than the heartbeat timeout (measured up to `queueDrainedAt`);
    /// fails the job when a lost worker is not replaced in time (`wait`) or no worker at all is left (`continue`).
    func checkHeartbeats() throws {
        let now = Date()
        try checkReturnsAfterRestart(now)
        for rank in slots.indices {
            guard let slot = slots[rank], !slot.done, slot.lostSince == nil else { continue }
            let silence = queueDrainedAt.timeIntervalSince(slot.lastSeen)
            if silence > cluster.heartbeatTimeout { try markLost(rank, silence: silence) }
        }
        let lost = slots.indices.compactMap { rank in slots[rank]?.lostSince.map { (rank, now.timeIntervalSince($0)) } }
        guard let (rank, duration) = lost.max(by: { $0.1 < $1.1 }), duration > cluster.replacementTimeout else { return }
        let live = slots.contains { $0 != nil && $0!.lostSince == nil && !$0!.done }
        if cluster.onWorkerFailure == .wait || !live {
            throw ServerFailure(
                message: String(format: "worker %d was lost %.0f s ago and no worker took its place", rank, duration)
                    + (live ? " (cluster.on_worker_failure: wait)" : "; no live worker is left"),
                hint: "restart a worker with --rank \(rank); cluster.replacement_timeout (\(cluster.replacementTimeout) s) sets how long to wait")
        }
    }

    /// After a restart into a job under way, every rank is expected to register again within `replacement_timeout`,
    /// as a lost worker's replacement is. One that does not fails the job (`wait`), or is lost and the job goes on
    /// without it (`continue`) unless no worker came back at all.
    func checkReturnsAfterRestart(_ now: Date) throws {
        guard let since = returnAwaitedSince, now.timeIntervalSince(since) > cluster.replacementTimeout else { return }
        returnAwaitedSince = nil
        let absent = slots.indices.filter { slots[$0] == nil }
        guard !absent.isEmpty else { return }
        let plural = absent.count > 1, ranks = absent.map(String.init).joined(separator: ", ")
        let what = String(format: "worker%@ %@ did not register again within %.0f s of the restart", plural ? "s" : "", ranks,
                          cluster.replacementTimeout)
        let restart = "a worker started with --rank \(plural ? "(one for each of \(ranks))" : ranks)"
        if cluster.onWorkerFailure == .wait || absent.count == slots.count {
            throw ServerFailure(message: what + (absent.count == slots.count ? "; no worker came back" : " (cluster.on_worker_failure: wait)"),
                                hint: "\(restart) takes its place; cluster.replacement_timeout (\(cluster.replacementTimeout) s) sets how long to wait")
        }
        for rank in absent {
            neverReturned.insert(rank)
            lostWorkers.append(LostWorker(rank: rank, lostAtStep: Int(version)))
        }
        log(what + ": training goes on without \(plural ? "them" : "it") (cluster.on_worker_failure: continue); \(restart) rejoins")
        startTrainingIfEveryRankIsIn()
        try applyWhatNoLongerWaits()
    }

    func markLost(_ rank: Int, silence: TimeInterval) throws {
        // A push already received stays queued: its gradient is whole, and the worker may be only slow and
        // waiting for the answer. Dropping it would leave that worker waiting forever once it speaks again.
        slots[rank]!.lostSince = Date()
        lostWorkers.append(LostWorker(rank: rank, lostAtStep: Int(version)))
        let what = cluster.onWorkerFailure == .continue
            ? "training goes on without it (cluster.on_worker_failure: continue)"
            : "sync steps wait for a worker with its rank (cluster.on_worker_failure: wait)"
        log(String(format: "worker %d lost: silent for %.1f s (heartbeat timeout %.1f s); ", rank, silence, cluster.heartbeatTimeout) + what)
        if let peer = waitingToJoin[rank] { return try admit(peer, rank: rank, offering: sharedPayloadOffers.removeValue(forKey: peer)) }
        try applyWhatNoLongerWaits()
    }

    /// A worker finished or was lost: the sync step or the bounded pushes that waited for it may go ahead now.
    func applyWhatNoLongerWaits() throws {
        switch cluster.mode {
        case .sync: try completeSyncStepIfReady()
        case .async, .bounded: try applyQueuedPushes()
        }
    }

    /// The lost workers with their skipped steps: in sync, the steps taken while they were gone; otherwise
    /// the steps of theirs never consumed.
    func lostWorkersAtEnd() -> [LostWorker]? {
        guard !lostWorkers.isEmpty else { return nil }
        return lostWorkers.map { record in
            var record = record
            if cluster.mode == .sync {
                record.skippedSteps = (record.rejoinedAtStep ?? Int(version)) - record.lostAtStep
            } else if record.rejoinedAtStep == nil {
                record.skippedSteps = run.config.train.epochs * stepsPerEpoch[record.rank] - stepsDone[record.rank]
            }
            return record
        }
    }
}
