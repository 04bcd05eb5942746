import Config
import Foundation
import Transport
import Wire

/// A shard other than 0 at step 0 while shard 0 is past it: it started again without its slice of the job.
struct ShardWithoutState: Error, CustomStringConvertible {
    var shard: Int
    var shardZeroStep: UInt64
    var description: String {
        "server shard \(shard) is at step 0 while shard 0 is at step \(shardZeroStep): it started again without its state"
    }
}

/// Joining the job: registering with every shard, and waiting while a shard is back without its state.
extension Worker {
    /// Where the server puts this worker: its rank, the steps of each epoch, and the step to start at.
    struct Place {
        var rank: Int
        var stepsPerEpoch: Int
        var startStep: Int
    }

    /// Registers with every shard and pulls the weights (`joinEveryShard`). While a shard is back at step 0 without
    /// its state, waits, up to `cluster.server_timeout`, for shard 0 to notice: it stops, and started again with
    /// `--resume` (by `pstrain launch`, or by an engine with `--resume-if-exists`) takes every shard back to the job's
    /// latest checkpoint and welcomes this worker there.
    func join(rank: Int, plan: ShardPlan) throws -> Place {
        var waitingSince: Date?
        while true {
            do {
                let place = try joinEveryShard(rank: rank, plan: plan, quietly: waitingSince != nil)
                if let since = waitingSince {
                    log("worker \(place.rank): every shard is at step \(place.startStep) again, after "
                        + String(format: "%.1f s; going on from there", Date().timeIntervalSince(since)))
                }
                return place
            } catch let lost as ShardWithoutState {
                if waitingSince == nil {
                    log("worker: \(lost); waiting for shard 0 to take every shard back to the job's latest checkpoint")
                    waitingSince = Date()
                }
                guard Date().timeIntervalSince(waitingSince!) < cluster.serverTimeout else {
                    throw WorkerError(message: "\(lost), and still was \(Int(cluster.serverTimeout)) s later (cluster.server_timeout)",
                                      hint: "restart server shard 0 with --resume: it hands every shard its slice of the job's latest checkpoint",
                                      restartable: false)
                }
                try pauseForShardZero()
            }
        }
    }

    /// Waits one heartbeat interval for shard 0, taking a `shutdown` (the job ended meanwhile) as `awaitReply` does,
    /// then sends every shard a heartbeat.
    func pauseForShardZero() throws {
        if let received = try transports[0].receive(timeoutMilliseconds: Int(cluster.heartbeatInterval * 1000)) {
            let kind = try withFrameBytes(received) { try Message.decode($0, maxPayloadBytes: cluster.maxMessageMb << 20).header.kind }
            if kind == .shutdown { throw WorkerError.jobEndedEarly }
        }
        try sendHeartbeats()
    }

    /// Registers (asking for `rank`, or any with -1) with shard 0, then with the other shards under the rank shard 0
    /// gave, and pulls the current weights from every shard; logs the registration unless `quietly`.
    func joinEveryShard(rank: Int, plan: ShardPlan, quietly: Bool) throws -> Place {
        var place: Place?
        for k in 0 ..< shards {
            let asked = place?.rank ?? rank
            // A worker on the server's host offers it a shared memory segment for the payloads.
            let offer = transports[k].sharedPayloadOffer
            let register = { [self] in
                let header = Header(kind: .register, jobID: jobID, sender: Int32(asked), shard: UInt16(k), aux: CompressionSupport.all.rawValue,
                                    layoutHash: run.spec.layout.hash)
                try send(offer.map { textFrames(header, json(["shared_memory": $0.json])) } ?? frames(header), to: k)
            }
            try register()
            let welcome = try awaitReply(from: k, accepting: [.welcome], askingAgain: register)
            let assigned = Int(welcome.header.aux)
            let facts = (try? JSONSerialization.jsonObject(with: Data((welcome.text ?? "{}").utf8))) as? [String: Any] ?? [:]
            // Neither a mismatch nor a malformed welcome would be mended by restarting this worker: the server would say the same.
            guard let workers = facts["workers"] as? Int, let steps = facts["steps_per_epoch"] as? Int, steps >= 1,
                  let start = facts["start_step"] as? Int, start >= 0 else {
                throw WorkerError(message: "server shard \(k)'s welcome lacks the job's facts: \(welcome.text ?? "")",
                                  hint: "run the same pstrain release everywhere", restartable: false)
            }
            guard workers == cluster.workers else {
                throw WorkerError(message: "server shard \(k) runs the job for \(workers) workers; this worker's config has cluster.workers \(cluster.workers)",
                                  hint: "start every worker with the server's config", restartable: false)
            }
            // A server from before shards has no shard facts: it is shard 0 of 1.
            let servers = facts["servers"] as? Int ?? 1, shard = facts["shard"] as? Int ?? 0
            let owned = facts["parameters"] as? [Int] ?? [0, layoutCount]
            let range = plan.range(k)
            guard servers == shards, shard == k, owned == [range.lowerBound, range.upperBound] else {
                throw WorkerError(message: "endpoint \(k + 1) of \(shards) is shard \(shard) of \(servers), holding parameters "
                                  + "\(owned.first ?? 0)..<\(owned.last ?? 0); this worker expected shard \(k) with \(range)",
                                  hint: "list the shards' endpoints in shard order", restartable: false)
            }
            let named = facts["compression"] as? String ?? GradientCompression.none.rawValue
            let fraction = facts["topk_fraction"] as? Double ?? ClusterConfig().topkFraction
            guard let compression = GradientCompression(rawValue: named), fraction > 0, fraction <= 1 else {
                throw WorkerError(message: "server shard \(k) asks for compression \(named) (topk_fraction \(facts["topk_fraction"] ?? "none")), "
                                  + "which this worker cannot use", hint: "run the same pstrain release everywhere", restartable: false)
            }
            try adopt(compression, fraction: fraction, shard: k, range: range)
            sharedPayloads[k] = facts["shared_memory"] as? Bool ?? false
            transports[k].sharedPayloads(accepted: sharedPayloads[k])
            try checkShardKeptItsState(shard: k, version: welcome.header.version)
            if let place {
                guard assigned == place.rank else {
                    throw WorkerError(message: "shard \(k) gave this worker rank \(assigned); shard 0 gave \(place.rank)")
                }
            } else {
                if !quietly {
                    log("worker \(assigned): registered with \(workers) workers, \(cluster.mode.rawValue) mode, starting at step \(start)"
                        + (shards > 1 ? ", \(shards) server shards" : ""))
                }
                place = Place(rank: assigned, stepsPerEpoch: steps, startStep: start)
            }
        }
        for k in 0 ..< shards {
            try send(frames(Header(kind: .pull, jobID: jobID, sender: Int32(place!.rank), shard: UInt16(k))), to: k)
            _ = try awaitReply(from: k, accepting: [.weights])
        }
        return place!
    }

    /// A shard other than 0 at step 0 while shard 0 is past it (by more than the pushes still on their way, one per
    /// worker) restarted without its slice of the job: training on would mix a fresh slice into a trained model.
    /// Only shard 0 resuming with `--resume` brings it back (`restore`).
    func checkShardKeptItsState(shard: Int, version: UInt64) throws {
        if shard == 0 { shardZeroVersion = version }
        guard shard > 0, version == 0, let base = shardZeroVersion, base > UInt64(cluster.workers) else { return }
        throw ShardWithoutState(shard: shard, shardZeroStep: base)
    }
}
