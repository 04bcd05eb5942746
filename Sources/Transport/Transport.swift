/// The server's side of a transport: many peers, each message tagged with its sender.
///
/// Used from one thread (the server's); implementations need not be thread-safe.
public protocol ServerTransport: AnyObject {
    /// The address workers connect to.
    var endpoint: String { get }
    /// The next message from any peer, waiting up to `timeoutMilliseconds`; nil when none came.
    func receive(timeoutMilliseconds: Int) throws -> (peer: PeerID, frames: [any InboundFrame])?
    /// Sends one message (its frames) to `peer`. A peer that has disconnected is not an error: the message is
    /// dropped and counted in `traffic.messagesDropped` (the server notices a dead worker by its silence).
    func send(_ frames: [OutboundFrame], to peer: PeerID) throws
    /// Bytes sent and received so far, payloads and headers.
    var traffic: Traffic { get }
    /// Whether `peer` proved it holds this server's own key pair, as the job's other server shards do (shard 0
    /// is their client). Without authentication every peer counts as holding it: anyone who reaches an
    /// unauthenticated server may do anything a shard may.
    func peerHoldsServerKey(_ peer: PeerID) -> Bool
    /// Maps the shared memory segment `peer` offered and passes its large payloads through it from now on
    /// (`SharedPayloadServerTransport`); throws, saying why, when it cannot (the peer is on another host).
    func attachSharedPayloads(_ offer: SharedPayloadOffer, to peer: PeerID) throws
    /// Stops passing payloads through `peer`'s segment (the peer was replaced).
    func detachSharedPayloads(from peer: PeerID)
}

extension ServerTransport {
    public func attachSharedPayloads(_ offer: SharedPayloadOffer, to peer: PeerID) throws {
        throw SharedPayloadError("this transport passes every payload over its connection")
    }

    public func detachSharedPayloads(from peer: PeerID) {}
}

/// A worker's side: one server.
public protocol ClientTransport: AnyObject {
    /// The server's address, as messages name it.
    var serverAddress: String { get }
    func receive(timeoutMilliseconds: Int) throws -> [any InboundFrame]?
    /// Sends one message to the server. One that no connection takes in time is dropped, not an error: the
    /// caller notices the missing answer.
    func send(_ frames: [OutboundFrame]) throws
    var traffic: Traffic { get }
    /// The shared memory segment to offer the server when registering; nil when there is none.
    var sharedPayloadOffer: SharedPayloadOffer? { get }
    /// The server answered the offer: large payloads go through the segment from now on if it `accepted`.
    func sharedPayloads(accepted: Bool)
    /// A frame of `byteCount` bytes to fill and send as the payload of a message, placed where this transport
    /// sends it from without copying (a free shared memory slot); nil when there is no such place.
    func payloadFrame(byteCount: Int) -> OutboundFrame?
}

extension ClientTransport {
    public var sharedPayloadOffer: SharedPayloadOffer? { nil }
    public func sharedPayloads(accepted: Bool) {}
    public func payloadFrame(byteCount: Int) -> OutboundFrame? { nil }
}

/// Bytes and messages through one transport.
public struct Traffic: Sendable, Equatable {
    public var bytesSent = 0
    public var bytesReceived = 0
    public var messagesSent = 0
    public var messagesReceived = 0
    /// Messages not sent because their peer had disconnected (server), or no connection took them in time (client).
    public var messagesDropped = 0
    public init() {}

    /// Counts one message sent.
    public mutating func sent(_ frames: [OutboundFrame]) {
        messagesSent += 1
        bytesSent += frames.reduce(0) { $0 + $1.count }
    }

    /// Counts one message dropped for want of its peer.
    public mutating func dropped() {
        messagesDropped += 1
    }

    /// Counts one message of `byteCount` bytes received.
    public mutating func received(_ byteCount: Int) {
        messagesReceived += 1
        bytesReceived += byteCount
    }
}
