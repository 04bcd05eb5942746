import Foundation
import Testing
import Transport
import ZeroMQ
import ZMQTransport

/// Which peers hold the server's own key pair, told by the name the server's ZAP handler gave each CURVE
/// connection: the test behind letting only the other shards' link from shard 0 read or set a shard's state.
@Suite struct ServerKeyPeerTests {
    /// The peer a one-frame message from a client with `keys` arrives as.
    func peer(sending keys: CurveClientKeys, to server: ZMQServerTransport, in context: ZMQContext) throws -> PeerID {
        let client = try ZMQClientTransport(context: context, connect: server.endpoint, maxMessageBytes: 1 << 20, curve: keys)
        defer { client.close() }
        try client.send([OutboundFrame([1, 2, 3])])
        return try #require(try server.receive(timeoutMilliseconds: 10_000), "nothing arrived").peer
    }

    @Test func onlyAClientWithTheServersOwnPairHoldsItsKey() throws {
        let serverPair = try CurveKeyPair.generate(), workerPair = try CurveKeyPair.generate()
        let context = try ZMQContext()
        let server = try ZMQServerTransport(context: context, bind: "tcp://127.0.0.1:*", maxMessageBytes: 1 << 20,
                                            curve: CurveServerKeys(keys: serverPair, allowedClients: [serverPair.publicKey: "server.key",
                                                                                                      workerPair.publicKey: "worker.key"]))
        defer { server.close() }
        let worker = try peer(sending: CurveClientKeys(serverKey: serverPair.publicKey, keys: workerPair), to: server, in: context)
        let shardZero = try peer(sending: CurveClientKeys(serverKey: serverPair.publicKey, keys: serverPair), to: server, in: context)
        #expect(!server.peerHoldsServerKey(worker))
        #expect(server.peerHoldsServerKey(shardZero))
    }

    /// A server that does not let its own key in has no fellow shard: nobody holds its key.
    @Test func withoutItsOwnKeyAmongTheAllowedNobodyHoldsIt() throws {
        let serverPair = try CurveKeyPair.generate(), workerPair = try CurveKeyPair.generate()
        let context = try ZMQContext()
        let server = try ZMQServerTransport(context: context, bind: "tcp://127.0.0.1:*", maxMessageBytes: 1 << 20,
                                            curve: CurveServerKeys(keys: serverPair, allowedClients: [workerPair.publicKey: "worker.key"]))
        defer { server.close() }
        let worker = try peer(sending: CurveClientKeys(serverKey: serverPair.publicKey, keys: workerPair), to: server, in: context)
        #expect(!server.peerHoldsServerKey(worker))
    }

    /// Without CURVE nobody is authenticated, so every peer may do what a shard may.
    @Test func withoutCurveEveryPeerCounts() throws {
        let context = try ZMQContext()
        let server = try ZMQServerTransport(context: context, bind: "tcp://127.0.0.1:*", maxMessageBytes: 1 << 20)
        defer { server.close() }
        let client = try ZMQClientTransport(context: context, connect: server.endpoint, maxMessageBytes: 1 << 20)
        defer { client.close() }
        try client.send([OutboundFrame([1])])
        let received = try #require(try server.receive(timeoutMilliseconds: 10_000))
        #expect(server.peerHoldsServerKey(received.peer))
    }
}
