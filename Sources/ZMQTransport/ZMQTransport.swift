import Foundation
import Glibc
import Transport
import ZeroMQ

extension ZMQMessage: InboundFrame {}

/// A server's CurveZMQ settings: its key pair, and the public keys of the clients it lets in (with their names).
public struct CurveServerKeys: Sendable {
    public var keys: CurveKeyPair
    public var allowedClients: [CurveKey: String]
    public init(keys: CurveKeyPair, allowedClients: [CurveKey: String]) {
        self.keys = keys
        self.allowedClients = allowedClients
    }
}

/// A client's CurveZMQ settings: the server's public key, and its own pair.
public struct CurveClientKeys: Sendable {
    public var serverKey: CurveKey
    public var keys: CurveKeyPair
    public init(serverKey: CurveKey, keys: CurveKeyPair) {
        self.serverKey = serverKey
        self.keys = keys
    }
}

extension ZMQSocket {
    /// Makes this (not yet connected) socket a CurveZMQ client of the server whose key `curve` holds.
    public func useCurve(_ curve: CurveClientKeys) throws {
        try CurveUnavailable.check()
        try set(.curveServerKey(curve.serverKey))
        try set(.curvePublicKey(curve.keys.publicKey))
        try set(.curveSecretKey(curve.keys.secretKey))
    }
}

/// This libzmq cannot encrypt.
public struct CurveUnavailable: Error, CustomStringConvertible {
    public var description: String {
        "this libzmq \(ZMQ.version) was built without CURVE security (zmq_has(\"curve\") is false)\n"
            + "  hint: install Debian's libzmq5 (built with libsodium), or run on loopback without keys"
    }

    /// Throws unless libzmq has CURVE.
    public static func check() throws(CurveUnavailable) {
        if !ZMQ.has("curve") { throw CurveUnavailable() }
    }
}

/// The server side over ZeroMQ: a ROUTER socket bound to the given address. Outbound frames go zero-copy.
public final class ZMQServerTransport: ServerTransport, @unchecked Sendable {
    // @unchecked: like its socket, it may be handed to the thread that will own it; never used by two at once.
    private let socket: ZMQSocket
    private let authenticator: ZAPAuthenticator?
    /// The name the ZAP handler gives a client holding this server's own public key; nil when that key is not
    /// let in (or without CurveZMQ).
    private let serverKeyName: String?
    /// The peers whose messages came with `serverKeyName`: the other shards' link from shard 0.
    private var peersHoldingServerKey: Set<PeerID> = []
    public let endpoint: String
    public private(set) var traffic = Traffic()

    /// How many I/O threads the context of a server with `connections` peers should run. libzmq moves each
    /// connection's bytes on one I/O thread, so with one thread a sync server takes its workers' gradients in, and
    /// sends their weights out, one connection after the other, even with cores idle while the workers wait. One
    /// thread per connection, up to the cores this process may use (libzmq's own advice is a thread per GB/s).
    /// Measured on 2 cores, 2 sync workers and their server: with 2 threads, a median 6 % more samples/s than
    /// with 1 over 18 alternating runs (0.75x to 1.32x: the machine is shared); 4 workers, or 2 shards, showed no
    /// difference either way.
    public static func ioThreads(connections: Int, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        max(1, min(connections, cores))
    }

    /// Binds `address` (`tcp://127.0.0.1:*` picks a free port; `endpoint` then tells which).
    /// Inbound messages over `maxMessageBytes` are cut by libzmq before they reach us (`ZMQ_MAXMSGSIZE`).
    /// With `curve`, only clients holding an allowed key get through, encrypted; `log` tells of those refused.
    public init(context: ZMQContext, bind address: String, maxMessageBytes: Int, curve: CurveServerKeys? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        socket = try context.socket(.router)
        if let curve {
            try CurveUnavailable.check()
            authenticator = try ZAPAuthenticator(context: context, allowed: curve.allowedClients, log: log)
            serverKeyName = curve.allowedClients[curve.keys.publicKey]
            try socket.set(.curveServer(true))
            try socket.set(.curveSecretKey(curve.keys.secretKey))
            try socket.set(.zapDomain("pstrain"))
        } else {
            authenticator = nil
            serverKeyName = nil
        }
        try socket.set(.maxMessageSize(bytes: Int64(maxMessageBytes)))
        try socket.set(.routerMandatory(true))
        try socket.set(.sendHighWaterMark(messages: 0))
        try socket.set(.receiveHighWaterMark(messages: 0))
        do {
            try socket.bind(address)
        } catch {
            // The caller may try another address in the same context, whose ZAP endpoint must be free again.
            authenticator?.stop()
            socket.close()
            throw error
        }
        endpoint = try socket.lastEndpoint
    }

    public func receive(timeoutMilliseconds: Int) throws -> (peer: PeerID, frames: [any InboundFrame])? {
        guard try ZMQPoller([socket]).readable(timeoutMilliseconds: timeoutMilliseconds)[0],
              let frames = try socket.receiveMultipart(dontWait: true) else { return nil }
        traffic.received(frames.reduce(0) { $0 + $1.count })
        let peer = PeerID(frames[0].bytes)
        // A ROUTER names each connection anew, so what one message proved holds for every later one from it.
        if let serverKeyName, !peersHoldingServerKey.contains(peer),
           frames[frames.count - 1].property("User-Id") == serverKeyName {
            peersHoldingServerKey.insert(peer)
        }
        return (peer, Array(frames.dropFirst()))
    }

    public func peerHoldsServerKey(_ peer: PeerID) -> Bool {
        authenticator == nil || peersHoldingServerKey.contains(peer)
    }

    public func send(_ frames: [OutboundFrame], to peer: PeerID) throws {
        guard try sendRoutingID(peer) else {
            // The peer has disconnected (a worker that died): nothing was queued; drop the message.
            traffic.dropped()
            return
        }
        for (i, frame) in frames.enumerated() {
            try socket.send(zeroCopy: frame.bytes, owner: frame, more: i < frames.count - 1)
        }
        traffic.sent(frames)
    }

    /// Starts a message to `peer`; false when the peer is gone (the ROUTER is mandatory, so it says so).
    private func sendRoutingID(_ peer: PeerID) throws -> Bool {
        do {
            try socket.send(peer.bytes, more: true)
            return true
        } catch {
            if error.errno == EHOSTUNREACH { return false }
            throw error
        }
    }

    /// Closes the socket. Messages still queued (the shutdowns, a shard's final slice) get up to
    /// `closingLinger` milliseconds to leave, while the context ends, so a process's last word is delivered.
    public func close() {
        socket.close(linger: closingLinger)
        authenticator?.stop()
    }
}

/// A worker's side over ZeroMQ: a DEALER socket connected to the server.
public final class ZMQClientTransport: ClientTransport, @unchecked Sendable {
    // @unchecked: as for the server side.
    private let socket: ZMQSocket
    public private(set) var traffic = Traffic()
    public let serverAddress: String

    /// - Parameter reconnectMax: when the server goes away, libzmq reconnects after 0.1 s, doubling the pause up
    ///   to this many seconds.
    /// - Parameter curve: the server's public key and this client's pair, for a server that requires CurveZMQ.
    public init(context: ZMQContext, connect address: String, maxMessageBytes: Int, reconnectMax: Double = 2,
                curve: CurveClientKeys? = nil) throws {
        socket = try context.socket(.dealer)
        if let curve { try socket.useCurve(curve) }
        // A DEALER with no connection to send on blocks, which happens while a CurveZMQ handshake keeps failing:
        // the send then gives up and the message is dropped, so the caller's own timeout can report it.
        try socket.set(.sendTimeout(milliseconds: 1000))
        try socket.set(.maxMessageSize(bytes: Int64(maxMessageBytes)))
        try socket.set(.reconnectInterval(milliseconds: 100))
        try socket.set(.reconnectIntervalMax(milliseconds: Int32(max(100, reconnectMax * 1000))))
        try socket.set(.sendHighWaterMark(messages: 0))
        try socket.set(.receiveHighWaterMark(messages: 0))
        try socket.connect(address)
        serverAddress = address
    }

    public func receive(timeoutMilliseconds: Int) throws -> [any InboundFrame]? {
        guard try ZMQPoller([socket]).readable(timeoutMilliseconds: timeoutMilliseconds)[0],
              let frames = try socket.receiveMultipart(dontWait: true) else { return nil }
        traffic.received(frames.reduce(0) { $0 + $1.count })
        return frames
    }

    public func send(_ frames: [OutboundFrame]) throws {
        for (i, frame) in frames.enumerated() {
            // Once the first frame is queued, the rest follow it on the same connection without waiting.
            guard try socket.send(zeroCopy: frame.bytes, owner: frame, more: i < frames.count - 1) || i > 0 else {
                traffic.dropped()
                return
            }
        }
        traffic.sent(frames)
    }

    /// Closes the socket; queued messages get up to `closingLinger` milliseconds to leave.
    public func close() { socket.close(linger: closingLinger) }
}

/// How long a closing transport's queued messages may delay the end of the process (milliseconds): long enough
/// for a reply sent just before exiting, short enough not to hold up a process whose peer is gone.
let closingLinger: Int32 = 1000
