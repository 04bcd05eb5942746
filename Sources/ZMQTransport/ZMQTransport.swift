import Glibc
import Transport
import ZeroMQ

extension ZMQMessage: InboundFrame {}

/// The server side over ZeroMQ: a ROUTER socket bound to the given address. Outbound frames go zero-copy.
public final class ZMQServerTransport: ServerTransport, @unchecked Sendable {
    // @unchecked: like its socket, it may be handed to the thread that will own it; never used by two at once.
    private let socket: ZMQSocket
    public let endpoint: String
    public private(set) var traffic = Traffic()

    /// Binds `address` (`tcp://127.0.0.1:*` picks a free port; `endpoint` then tells which).
    /// Inbound messages over `maxMessageBytes` are cut by libzmq before they reach us (`ZMQ_MAXMSGSIZE`).
    public init(context: ZMQContext, bind address: String, maxMessageBytes: Int) throws {
        socket = try context.socket(.router)
        try socket.set(.maxMessageSize(bytes: Int64(maxMessageBytes)))
        try socket.set(.routerMandatory(true))
        try socket.set(.sendHighWaterMark(messages: 0))
        try socket.set(.receiveHighWaterMark(messages: 0))
        try socket.bind(address)
        endpoint = try socket.lastEndpoint
    }

    public func receive(timeoutMilliseconds: Int) throws -> (peer: PeerID, frames: [any InboundFrame])? {
        guard try ZMQPoller([socket]).readable(timeoutMilliseconds: timeoutMilliseconds)[0],
              let frames = try socket.receiveMultipart(dontWait: true) else { return nil }
        traffic.received(frames.reduce(0) { $0 + $1.count })
        return (PeerID(frames[0].bytes), Array(frames.dropFirst()))
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

    public func close() { socket.close() }
}

/// A worker's side over ZeroMQ: a DEALER socket connected to the server.
public final class ZMQClientTransport: ClientTransport, @unchecked Sendable {
    // @unchecked: as for the server side.
    private let socket: ZMQSocket
    public private(set) var traffic = Traffic()

    /// - Parameter reconnectMax: when the server goes away, libzmq reconnects after 0.1 s, doubling the pause up
    ///   to this many seconds.
    public init(context: ZMQContext, connect address: String, maxMessageBytes: Int, reconnectMax: Double = 2) throws {
        socket = try context.socket(.dealer)
        try socket.set(.maxMessageSize(bytes: Int64(maxMessageBytes)))
        try socket.set(.reconnectInterval(milliseconds: 100))
        try socket.set(.reconnectIntervalMax(milliseconds: Int32(max(100, reconnectMax * 1000))))
        try socket.set(.sendHighWaterMark(messages: 0))
        try socket.set(.receiveHighWaterMark(messages: 0))
        try socket.connect(address)
    }

    public func receive(timeoutMilliseconds: Int) throws -> [any InboundFrame]? {
        guard try ZMQPoller([socket]).readable(timeoutMilliseconds: timeoutMilliseconds)[0],
              let frames = try socket.receiveMultipart(dontWait: true) else { return nil }
        traffic.received(frames.reduce(0) { $0 + $1.count })
        return frames
    }

    public func send(_ frames: [OutboundFrame]) throws {
        for (i, frame) in frames.enumerated() {
            try socket.send(zeroCopy: frame.bytes, owner: frame, more: i < frames.count - 1)
        }
        traffic.sent(frames)
    }

    public func close() { socket.close() }
}
