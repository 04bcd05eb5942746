import Foundation
import Transport
import Wire

/// Shard 0 found another shard back at a step below one it had reached, or at step 0 while shard 0 is past it:
/// that shard stopped and started again (an engine restarted its pod or unit) without its state, which only shard 0's
/// checkpoint holds. Going on would mix a fresh slice into a trained model, and a checkpoint now would keep that mix.
public struct ShardLostItsState: Error, CustomStringConvertible {
    public let shard: Int
    /// The step the shard answered at, and shard 0's.
    public let step: UInt64
    public let shardZeroStep: UInt64
    /// The job's latest checkpoint, which a resumed shard 0 takes every shard back to; nil when there is none yet.
    public let checkpointStep: Int?

    public var description: String {
        "server shard \(shard) is back at step \(step) while shard 0 is at step \(shardZeroStep): it started again without its state. "
            + "Shard 0 stopped without a checkpoint; started again with --resume, it takes every shard back to "
            + (checkpointStep.map { "the checkpoint of step \($0)" } ?? "step 0 (the job has no checkpoint yet)")
    }
}

/// Shard 0's view of the other shards: per shard, the highest step it answered a probe at, when the latest probe
/// went out and whether it was answered, when it last answered, and since when it has been silent.
struct ShardWatch {
    var steps: [UInt64]
    var probes: [(sentAt: Date, answered: Bool)?]
    var answeredAt: [Date?]
    /// Set when a probe has gone unanswered for longer than `cluster.heartbeat_timeout` (to when it went out), and
    /// cleared by the next answer: each silence is logged once as it begins and once as it ends.
    var silentSince: [Date?]
    /// When shard 0 last looked: it looks once a heartbeat interval, not at every message it handles.
    var lookedAt = Date.distantPast

    init(shards: Int) {
        steps = Array(repeating: 0, count: max(0, shards - 1))
        probes = Array(repeating: nil, count: max(0, shards - 1))
        answeredAt = Array(repeating: nil, count: max(0, shards - 1))
        silentSince = Array(repeating: nil, count: max(0, shards - 1))
    }
}

/// Shard 0 watches the other shards' steps; another shard answers its probe.
extension ParameterServer {
    /// Shard 0, once a heartbeat interval: takes the other shards' answers to its probes and probes each again
    /// (`probe`). Throws `ShardLostItsState` as `takeProbeAnswer` does.
    func watchOtherShards() throws {
        guard shard == 0, !links.isEmpty, Date().timeIntervalSince(shardWatch.lookedAt) >= cluster.heartbeatInterval else { return }
        shardWatch.lookedAt = Date()
        for link in links {
            // Also drops what a wait for an answer gave up on (a late slice): no later wait may take it for its answer.
            while let received = try link.transport.receive(timeoutMilliseconds: 0) {
                let header = try withFrameBytes(received) { try Message.decode($0, maxPayloadBytes: maxPayloadBytes).header }
                try takeProbeAnswer(header, from: link)
            }
            try probe(link)
        }
    }

    /// Shard 0: probes `link`'s shard again if its last probe was answered, or went out more than
    /// `cluster.heartbeat_timeout` ago (it may have been lost with a shard that went away; while a shard is away, its
    /// probes wait for it in the queue, one per timeout). A shard whose probe went unanswered that long is logged as
    /// silent, once: the workers wait on it, or shard 0 does (`waiting`: what for, and up to how long), and without
    /// this line only a timeout, much later, would say where the job stands still.
    func probe(_ link: ShardLink, waiting: (what: String, limit: TimeInterval)? = nil) throws {
        let index = link.shard - 1
        if let probe = shardWatch.probes[index], !probe.answered {
            guard Date().timeIntervalSince(probe.sentAt) > cluster.heartbeatTimeout else { return }
            if shardWatch.silentSince[index] == nil {
                shardWatch.silentSince[index] = probe.sentAt
                let silence = Date().timeIntervalSince(shardWatch.answeredAt[index] ?? probe.sentAt)
                let who = waiting.map { "Shard 0 waits up to \(String(format: "%g", $0.limit)) s for its answer (\($0.what))" }
                    ?? "Workers wait for it up to cluster.server_timeout (\(Int(cluster.serverTimeout)) s)"
                log("server shard \(link.shard) (\(link.endpoint)) is silent: no answer to shard 0 for "
                    + String(format: "%.1f s (cluster.heartbeat_timeout %g s). ", silence, cluster.heartbeatTimeout)
                    + "\(who): is its process running and reachable?")
            }
        }
        try link.transport.send(frames(Header(kind: .heartbeat, jobID: jobID, sender: -1, shard: UInt16(link.shard), version: version,
                                              aux: HeartbeatPurpose.shardProbe.rawValue)))
        shardWatch.probes[index] = (Date(), false)
    }

    /// Shard 0: whether `header`, from `link`, answers a probe; if so, notes the shard's step. Waits for a shard's
    /// answer (`awaitAnswer`) pass their messages here first. Throws `ShardLostItsState` when the shard answered
    /// at a step below one it had reached, or at step 0 while shard 0 is past it.
    @discardableResult
    func takeProbeAnswer(_ header: Header, from link: ShardLink) throws -> Bool {
        guard header.kind == .heartbeat, header.aux == HeartbeatPurpose.shardProbe.rawValue, header.shard == UInt16(link.shard) else { return false }
        let index = link.shard - 1
        shardWatch.probes[index]?.answered = true
        // A shard never goes back by itself, and is never more than a push per worker behind shard 0 (the rule
        // `Worker.checkShardKeptItsState` applies too) as it was when it sent the probe, which the answer echoes.
        let probedAt = header.value >= 0 && header.value < 0x1p63 ? UInt64(header.value) : 0
        let lost = header.version < shardWatch.steps[index] || (header.version == 0 && probedAt > UInt64(cluster.workers))
        guard !lost else {
            throw ShardLostItsState(shard: link.shard, step: header.version, shardZeroStep: max(probedAt, shardWatch.steps[index]),
                                    checkpointStep: lastCheckpointStep >= 0 ? lastCheckpointStep : nil)
        }
        shardWatch.steps[index] = header.version
        heard(from: link, atStep: header.version)
        return true
    }

    /// Shard 0 heard from `link`'s shard, at `step`: an answer to a probe, or any answer shard 0 waited for
    /// (`awaitAnswer`). The end of a silence is logged once.
    func heard(from link: ShardLink, atStep step: UInt64) {
        let index = link.shard - 1
        shardWatch.answeredAt[index] = Date()
        if let since = shardWatch.silentSince[index] {
            shardWatch.silentSince[index] = nil
            log(String(format: "server shard %d answers again after %.1f s silent, at step %llu", link.shard, Date().timeIntervalSince(since), step))
        }
    }

    /// Shard 0 of several: the state of shard `index + 1`: `silent` (see `watchOtherShards`), `live` once it has
    /// answered, `probing` before its first answer.
    func shardState(_ index: Int) -> String {
        shardWatch.silentSince[index] != nil ? "silent" : shardWatch.answeredAt[index] != nil ? "live" : "probing"
    }

    /// Shard 0 of several: each other shard as `pstrain status` shows it.
    func shardStates() -> [[String: Any]] {
        links.map { link in
            let index = link.shard - 1
            var state: [String: Any] = ["shard": link.shard, "endpoint": link.endpoint, "step": shardWatch.steps[index], "state": shardState(index)]
            if let answered = shardWatch.answeredAt[index] { state["last_answer_seconds"] = Date().timeIntervalSince(answered) }
            return state
        }
    }

    /// Shard 0 handed every other shard the state of `step` (`restoreOtherShards`): none can be below it from now on.
    func watchFrom(step: UInt64) {
        shardWatch.steps = shardWatch.steps.map { _ in step }
    }

    /// Another shard: answers shard 0's probe (`probe`) with this shard's step, echoing shard 0's.
    func answerProbe(_ peer: PeerID, _ probe: Header) throws {
        guard shard > 0 else { return reject(peer, reason: "unexpected_kind", "shard 0 was sent a shard probe") }
        try transport.send(frames(Header(kind: .heartbeat, jobID: jobID, sender: -1, shard: UInt16(shard), version: version,
                                         aux: HeartbeatPurpose.shardProbe.rawValue, value: Double(probe.version))), to: peer)
    }
}
