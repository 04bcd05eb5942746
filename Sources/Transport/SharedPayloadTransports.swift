import Foundation

/// Payloads at least this large go through a peer's shared segment when it has one; smaller ones are cheaper
/// over the socket, which copies them in one piece.
public let sharedPayloadMinimumBytes = 64 << 10

/// A server transport that passes large payloads to and from the peers that offered a shared memory segment
/// (workers on this host) through that segment, and everything else through `inner`. Messages keep their shape
/// for the server: a header frame, then the payload frame, which for a shared payload is read in place.
public final class SharedPayloadServerTransport: ServerTransport, @unchecked Sendable {
    // @unchecked: like the transport it wraps, used by one thread at a time.
    private let inner: ServerTransport
    private var segments: [PeerID: SharedPayloadSegment] = [:]
    /// Payload bytes that went through segments, which `inner` counts only as references.
    private var sharedTraffic = Traffic()

    public init(_ inner: ServerTransport) { self.inner = inner }

    public var endpoint: String { inner.endpoint }
    public var traffic: Traffic { inner.traffic.adding(sharedTraffic) }
    public func peerHoldsServerKey(_ peer: PeerID) -> Bool { inner.peerHoldsServerKey(peer) }

    public func attachSharedPayloads(_ offer: SharedPayloadOffer, to peer: PeerID) throws {
        if segments[peer]?.offer == offer { return }
        segments[peer] = try SharedPayloadSegment.open(offer)
    }

    public func detachSharedPayloads(from peer: PeerID) { segments[peer] = nil }

    /// A message whose reference this transport cannot resolve (its peer has no segment here, or the reference
    /// is stale or malformed) is passed on as it came, reference first, for the server to turn away.
    public func receive(timeoutMilliseconds: Int) throws -> (peer: PeerID, frames: [any InboundFrame])? {
        guard let (peer, frames) = try inner.receive(timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        guard let segment = segments[peer],
              let payload = resolveReference(frames, in: segment, .toServer, traffic: &sharedTraffic) else { return (peer, frames) }
        return (peer, [frames[1], payload])
    }

    public func send(_ frames: [OutboundFrame], to peer: PeerID) throws {
        guard let segment = segments[peer], let substituted = substituteReference(frames, in: segment, .toWorker, traffic: &sharedTraffic) else {
            return try inner.send(frames, to: peer)
        }
        try inner.send(substituted, to: peer)
    }
}

/// A worker's transport that makes a shared memory segment for its server and, once the server has mapped it,
/// passes large payloads through it; everything else, and everything when the server is elsewhere, goes through
/// `inner`.
public final class SharedPayloadClientTransport: ClientTransport, @unchecked Sendable {
    // @unchecked: as for the server side.
    private let inner: ClientTransport
    private var segment: SharedPayloadSegment?
    private var accepted = false
    private var everAccepted = false
    private var sharedTraffic = Traffic()
    /// Why there is no segment to offer, when making it failed.
    public let unavailableReason: String?

    /// Makes a segment whose slots hold `slotBytes` (the largest payload to pass through it) for `inner`'s server.
    public init(_ inner: ClientTransport, slotBytes: Int) {
        self.inner = inner
        do {
            segment = try SharedPayloadSegment.create(slotBytes: slotBytes)
            unavailableReason = nil
        } catch {
            segment = nil
            unavailableReason = "\(error)"
        }
    }

    public var serverAddress: String { inner.serverAddress }
    public var traffic: Traffic { inner.traffic.adding(sharedTraffic) }

    /// Offered at every registration (a server restarted since the last one maps it anew) until a server declines
    /// it without ever having taken it.
    public var sharedPayloadOffer: SharedPayloadOffer? { segment?.offer }

    public func sharedPayloads(accepted: Bool) {
        self.accepted = accepted && segment != nil
        everAccepted = everAccepted || self.accepted
        // Declined from the start, the server is on another host: the segment's memory goes back.
        if !everAccepted { segment = nil }
    }

    public func receive(timeoutMilliseconds: Int) throws -> [any InboundFrame]? {
        guard let frames = try inner.receive(timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        guard let segment, let payload = resolveReference(frames, in: segment, .toWorker, traffic: &sharedTraffic) else { return frames }
        return [frames[1], payload]
    }

    public func payloadFrame(byteCount: Int) -> OutboundFrame? {
        guard accepted, byteCount >= sharedPayloadMinimumBytes else { return nil }
        return segment?.lend(byteCount: byteCount, .toServer)
    }

    public func send(_ frames: [OutboundFrame]) throws {
        guard accepted, let segment else { return try inner.send(frames) }
        if frames.count == 2, let reference = segment.reference(completing: frames[1]) {
            // Filled in place (`payloadFrame`): only the reference goes.
            sharedTraffic.bytesSent += frames[1].count - SharedPayloadReference.size
            return try inner.send([OutboundFrame(reference.encoded()), frames[0]])
        }
        guard let substituted = substituteReference(frames, in: segment, .toServer, traffic: &sharedTraffic) else { return try inner.send(frames) }
        try inner.send(substituted)
    }
}

/// `[reference, header]` for a `[header, payload]` message whose payload is large enough and fits a free slot of
/// `direction`, its payload then copied into the slot; nil to send the message as it is.
private func substituteReference(_ frames: [OutboundFrame], in segment: SharedPayloadSegment, _ direction: SharedPayloadDirection,
                                 traffic: inout Traffic) -> [OutboundFrame]? {
    guard frames.count == 2, frames[1].count >= sharedPayloadMinimumBytes, let reference = segment.write(frames[1].bytes, direction) else { return nil }
    traffic.bytesSent += frames[1].count - SharedPayloadReference.size
    return [OutboundFrame(reference.encoded()), frames[0]]
}

/// The payload frame of a `[reference, header]` message, read from `direction`'s slot of `segment`; nil for any
/// other message, and for a reference the segment does not hold.
private func resolveReference(_ frames: [any InboundFrame], in segment: SharedPayloadSegment, _ direction: SharedPayloadDirection,
                              traffic: inout Traffic) -> (any InboundFrame)? {
    guard frames.count == 2, let reference = frames[0].withBytes(SharedPayloadReference.decode),
          let payload = segment.read(reference, direction) else { return nil }
    traffic.bytesReceived += Int(reference.byteCount) - SharedPayloadReference.size
    return payload
}

extension Traffic {
    /// This traffic with `other`'s counts added.
    public func adding(_ other: Traffic) -> Traffic {
        var total = self
        total.bytesSent += other.bytesSent
        total.bytesReceived += other.bytesReceived
        total.messagesSent += other.messagesSent
        total.messagesReceived += other.messagesReceived
        total.messagesDropped += other.messagesDropped
        return total
    }
}
