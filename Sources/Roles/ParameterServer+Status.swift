import Foundation
import Transport
import Wire

/// The live state `pstrain status` shows, answered to a `stats` request as JSON, and the worker states metrics count.
extension ParameterServer {
    func dispatchStats(_ peer: PeerID) throws {
        try transport.send(textFrames(Header(kind: .stats, jobID: jobID, sender: -1, version: version), json(status())), to: peer)
    }

    /// The job, its progress, and every worker rank's state.
    func status() -> [String: Any] {
        let now = Date()
        var state: [String: Any] = [
            "job_id": String(jobID, radix: 16), "model": run.modelDescription, "mode": cluster.mode.rawValue, "version": version,
            "total_steps": totalUpdates, "epoch": min(epochsEvaluated + 1, run.config.train.epochs), "epochs": run.config.train.epochs,
            "samples": samplesApplied, "uptime_seconds": now.timeIntervalSince(serveStart), "busy_seconds": Double(busyNanoseconds) / 1e9,
            "rejected_messages": rejects.values.reduce(0, +), "max_staleness": maxStaleness,
        ]
        // Workers that know only shard 0's address find the other shards here.
        if !links.isEmpty {
            state["shard_endpoints"] = links.map(\.endpoint)
            state["shards"] = shardStates()
        }
        if let recentLoss { state["loss"] = recentLoss }
        if let recentSamplesPerSecond { state["samples_per_second"] = recentSamplesPerSecond }
        if lastCheckpointStep >= 0 {
            state["checkpoint_step"] = lastCheckpointStep
            state["checkpoint_age_seconds"] = now.timeIntervalSince(lastCheckpoint)
        }
        state["workers"] = slots.indices.map { rank -> [String: Any] in
            // A sync worker's step is the version it holds; an async one's, its pushes consumed.
            var worker: [String: Any] = ["rank": rank, "steps": stepsDone[rank]]
            worker["state"] = workerState(rank)
            guard let slot = slots[rank] else { return worker }
            worker["held_version"] = slot.heldVersion
            if cluster.mode == .sync { worker["steps"] = Int(slot.heldVersion) }
            worker["last_seen_seconds"] = now.timeIntervalSince(slot.lastSeen)
            worker["shared_memory"] = slot.sharedPayloads
            return worker
        }
        return state
    }

    /// A rank's state: live, lost (silent, or not back after a restart), done, joining (a peer waits for it) or
    /// unregistered.
    func workerState(_ rank: Int) -> String {
        guard let slot = slots[rank] else { return neverReturned.contains(rank) ? "lost" : waitingToJoin[rank] != nil ? "joining" : "unregistered" }
        return slot.done ? "done" : slot.lostSince != nil ? "lost" : "live"
    }

    /// How many ranks, and other shards, are in each state, for `pstrain_workers` and `pstrain_server_shards`.
    func memberStateCounts() -> ServerMetrics.MemberStates {
        ServerMetrics.MemberStates(workers: slots.indices.reduce(into: [:]) { counts, rank in counts[workerState(rank), default: 0] += 1 },
                                   shards: links.reduce(into: [:]) { counts, link in counts[shardState(link.shard - 1), default: 0] += 1 })
    }
}
