import Foundation
import Transport
import Wire

/// How server shards find each other when only shard 0's address is known, as under ps-lite's `DMLC_*` variables
/// (where a scheduler would introduce them): each other shard announces its endpoint to shard 0 with `shardJoin`
/// and gets its index, in the order shard 0 heard them; shard 0 then links to them and tells workers their
/// endpoints (`shard_endpoints` in its stats).
public enum ShardRendezvous {
    /// Shard 0: waits on `transport` until `shards - 1` others have joined, answering each with its index. Messages
    /// of anything else (workers that came early) are held, for `ReplayingServerTransport` to hand to the server.
    /// - Returns: the endpoints of shards 1, 2, ... in order, and the held messages.
    public static func gather(on transport: ServerTransport, jobID: UInt64, shards: Int, timeout: TimeInterval, maxPayloadBytes: Int,
                              log: (String) -> Void) throws -> (endpoints: [String], held: [(peer: PeerID, frames: [any InboundFrame])]) {
        var endpoints: [String] = [], held: [(peer: PeerID, frames: [any InboundFrame])] = []
        let deadline = Date().addingTimeInterval(timeout)
        while endpoints.count < shards - 1 {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw RendezvousError(message: "shard 0 heard from \(endpoints.count) of the \(shards - 1) other server shards in \(Int(timeout)) s",
                                      hint: "start DMLC_NUM_SERVER servers with DMLC_ROLE=server; each must reach DMLC_PS_ROOT_URI:DMLC_PS_ROOT_PORT "
                                          + "(cluster.server_timeout sets this limit)")
            }
            guard let (peer, frames) = try transport.receive(timeoutMilliseconds: Int(min(left, 1) * 1000)) else { continue }
            let join: (Header, String)? = withFrameBytes(frames) { views in
                guard let message = try? Message.decode(views, maxPayloadBytes: maxPayloadBytes), message.header.kind == .shardJoin else { return nil }
                return (message.header, message.text ?? "")
            }
            guard let (header, endpoint) = join else {
                held.append((peer, frames))
                continue
            }
            func refuse(_ reason: String) throws {
                try transport.send(textFrames(Header(kind: .refuse, jobID: jobID, sender: -1, aux: Refusal.final.rawValue), reason), to: peer)
            }
            guard transport.peerHoldsServerKey(peer) else {
                log("refused a shard join from a peer without the servers' key pair (announcing \(endpoint))")
                try refuse("only a server shard may join, and server shards use the servers' key pair: start it with shard 0's --curve-secret")
                continue
            }
            guard header.jobID == jobID else {
                try refuse("this is another job (job id \(String(jobID, radix: 16))): start every server and worker with the same config")
                continue
            }
            // A shard that asks again (its first answer was lost) keeps its index.
            if !endpoints.contains(endpoint) {
                endpoints.append(endpoint)
                log("server shard \(endpoints.count) joined from \(endpoint) (\(endpoints.count)/\(shards - 1))")
            }
            let index = endpoints.firstIndex(of: endpoint)! + 1
            try transport.send(textFrames(Header(kind: .shardJoin, jobID: jobID, sender: -1, shard: UInt16(index)), transport.endpoint), to: peer)
        }
        return (endpoints, held)
    }

    /// Another shard: announces `endpoint` to shard 0 through `root` until it answers, and returns the index it gives.
    public static func join(through root: ClientTransport, endpoint: String, jobID: UInt64, timeout: TimeInterval, maxPayloadBytes: Int) throws -> Int {
        let silence = RendezvousError(message: "server shard 0 did not answer at the root address for \(Int(timeout)) s",
                                      hint: "is the first server (the one at DMLC_PS_ROOT_URI:DMLC_PS_ROOT_PORT) running and reachable? "
                                          + "(cluster.server_timeout sets this limit)")
        return try askShardZero(root, textFrames(Header(kind: .shardJoin, jobID: jobID, sender: -1), endpoint), timeout: timeout,
                                silence: silence, maxPayloadBytes: maxPayloadBytes) { answer in
            switch answer.header.kind {
            case .shardJoin where answer.header.shard >= 1: return Int(answer.header.shard)
            case .refuse: throw RendezvousError(message: "server shard 0 refused this shard: \(answer.text ?? "")", hint: nil)
            default: return nil
            }
        }
    }

    /// A worker: the endpoints of shards 1, 2, ... from shard 0's stats, which it answers once every shard has
    /// joined it.
    public static func shardEndpoints(from root: ClientTransport, jobID: UInt64, servers: Int, timeout: TimeInterval,
                                      maxPayloadBytes: Int) throws -> [String] {
        let silence = RendezvousError(message: "server shard 0 did not tell the other shards' endpoints within \(Int(timeout)) s",
                                      hint: "are all DMLC_NUM_SERVER servers running? Shard 0 answers once every shard has joined it "
                                          + "(cluster.server_timeout sets this limit)")
        return try askShardZero(root, frames(Header(kind: .stats, jobID: jobID, sender: -1)), timeout: timeout, silence: silence,
                                maxPayloadBytes: maxPayloadBytes) { answer in
            guard answer.header.kind == .stats,
                  let state = (try? JSONSerialization.jsonObject(with: Data((answer.text ?? "").utf8))) as? [String: Any] else { return nil }
            let endpoints = state["shard_endpoints"] as? [String] ?? []
            guard endpoints.count == servers - 1 else {
                throw RendezvousError(message: "server shard 0 has \(endpoints.count + 1) shards; this worker's config says \(servers)",
                                      hint: "start every server and worker with the same DMLC_NUM_SERVER and config")
            }
            return endpoints
        }
    }
}

/// Shard discovery failed: who was not heard, and what to check.
public struct RendezvousError: Error, CustomStringConvertible {
    public var message: String
    public var hint: String?
    public var description: String { message + (hint.map { "\n  hint: \($0)" } ?? "") }
}

/// A server transport that first hands out messages received before the server started (`ShardRendezvous.gather`).
public final class ReplayingServerTransport: ServerTransport {
    private let base: ServerTransport
    private var held: [(peer: PeerID, frames: [any InboundFrame])]

    public init(_ base: ServerTransport, replaying held: [(peer: PeerID, frames: [any InboundFrame])]) {
        self.base = base
        self.held = held
    }

    public var endpoint: String { base.endpoint }
    public var traffic: Traffic { base.traffic }

    public func receive(timeoutMilliseconds: Int) throws -> (peer: PeerID, frames: [any InboundFrame])? {
        if !held.isEmpty { return held.removeFirst() }
        return try base.receive(timeoutMilliseconds: timeoutMilliseconds)
    }

    public func send(_ frames: [OutboundFrame], to peer: PeerID) throws { try base.send(frames, to: peer) }

    public func peerHoldsServerKey(_ peer: PeerID) -> Bool { base.peerHoldsServerKey(peer) }
}
