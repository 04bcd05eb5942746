import Foundation

/// An in-process twin of the ZeroMQ transport: the same protocols over locked queues, so server and worker
/// logic run in tests without sockets. Connect clients with `InMemoryNetwork.connect()`.
public final class InMemoryNetwork: ServerTransport, @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`.
    private let condition = NSCondition()
    private var serverInbox: [(PeerID, [any InboundFrame])] = []
    private var clientInboxes: [PeerID: [[any InboundFrame]]] = [:]
    private var nextPeer: UInt32 = 0
    private var serverTraffic = Traffic()
    private var peersWithoutServerKey: Set<PeerID> = []

    public init() {}

    public var endpoint: String { "inmemory://server" }
    public var traffic: Traffic { condition.withLock { serverTraffic } }

    /// A new client connected to this network's server; `holdingServerKey: false` makes it a peer that
    /// authenticated with a key of its own, as a worker does under CurveZMQ.
    public func connect(holdingServerKey: Bool = true) -> InMemoryClient {
        condition.withLock {
            nextPeer += 1
            let id = PeerID(withUnsafeBytes(of: nextPeer.bigEndian, Array.init))
            clientInboxes[id] = []
            if !holdingServerKey { peersWithoutServerKey.insert(id) }
            return InMemoryClient(network: self, id: id)
        }
    }

    public func peerHoldsServerKey(_ peer: PeerID) -> Bool {
        condition.withLock { !peersWithoutServerKey.contains(peer) }
    }

    public func receive(timeoutMilliseconds: Int) throws -> (peer: PeerID, frames: [any InboundFrame])? {
        condition.withLock {
            let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
            while serverInbox.isEmpty {
                if timeoutMilliseconds >= 0 && !condition.wait(until: deadline) && serverInbox.isEmpty { return nil }
            }
            let message = serverInbox.removeFirst()
            serverTraffic.received(message.1.reduce(0) { $0 + ($1 as! CopiedFrame).bytes.count })
            return message
        }
    }

    public func send(_ frames: [OutboundFrame], to peer: PeerID) throws {
        condition.withLock {
            serverTraffic.sent(frames)
            clientInboxes[peer, default: []].append(frames.map { CopiedFrame(Array($0.bytes)) })
            condition.broadcast()
        }
    }

    fileprivate func deliverToServer(from peer: PeerID, _ frames: [OutboundFrame]) {
        condition.withLock {
            serverInbox.append((peer, frames.map { CopiedFrame(Array($0.bytes)) }))
            condition.broadcast()
        }
    }

    fileprivate func receive(for peer: PeerID, timeoutMilliseconds: Int) -> [any InboundFrame]? {
        condition.withLock {
            let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
            while clientInboxes[peer, default: []].isEmpty {
                if timeoutMilliseconds >= 0 && !condition.wait(until: deadline) && clientInboxes[peer, default: []].isEmpty { return nil }
            }
            return clientInboxes[peer]!.removeFirst()
        }
    }
}

/// One worker's connection to an `InMemoryNetwork`.
public final class InMemoryClient: ClientTransport, @unchecked Sendable {
    // @unchecked: `clientTraffic` is touched only by the worker thread that owns this client.
    private let network: InMemoryNetwork
    private let id: PeerID
    private var clientTraffic = Traffic()

    fileprivate init(network: InMemoryNetwork, id: PeerID) {
        self.network = network
        self.id = id
    }

    public var traffic: Traffic { clientTraffic }
    public var serverAddress: String { "the in-memory server" }

    public func send(_ frames: [OutboundFrame]) throws {
        clientTraffic.sent(frames)
        network.deliverToServer(from: id, frames)
    }

    public func receive(timeoutMilliseconds: Int) throws -> [any InboundFrame]? {
        let frames = network.receive(for: id, timeoutMilliseconds: timeoutMilliseconds)
        if let frames { clientTraffic.received(frames.reduce(0) { $0 + ($1 as! CopiedFrame).bytes.count }) }
        return frames
    }
}

/// A frame copied into memory of its own: what the in-memory network delivers.
final class CopiedFrame: InboundFrame {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try bytes.withUnsafeBytes(body) }
}
