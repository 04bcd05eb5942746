import Foundation
import Testing
import Transport
import ZeroMQ
import ZMQTransport

/// A server's context runs one I/O thread per connection, up to its cores, and serves through all of them.
@Suite struct ServerIOThreadsTests {
    @Test func oneThreadPerConnectionUpToTheCores() {
        #expect(ZMQServerTransport.ioThreads(connections: 2, cores: 2) == 2)
        #expect(ZMQServerTransport.ioThreads(connections: 8, cores: 2) == 2)
        #expect(ZMQServerTransport.ioThreads(connections: 1, cores: 64) == 1)
        #expect(ZMQServerTransport.ioThreads(connections: 3, cores: 1) == 1)
        #expect(ZMQServerTransport.ioThreads(connections: 0, cores: 4) == 1)
        // By default, the cores this process may use.
        #expect(ZMQServerTransport.ioThreads(connections: 64) == min(64, ProcessInfo.processInfo.activeProcessorCount))
    }

    /// Two clients, whose connections libzmq spreads over the context's two I/O threads, are both served.
    @Test func aServerWithTwoIOThreadsServesEveryClient() throws {
        let context = try ZMQContext(ioThreads: 2)
        #expect(context.ioThreads == 2)
        let server = try ZMQServerTransport(context: context, bind: "tcp://127.0.0.1:*", maxMessageBytes: 1 << 20)
        defer { server.close() }
        let clients = try (0 ..< 2).map { _ in try ZMQClientTransport(context: context, connect: server.endpoint, maxMessageBytes: 1 << 20) }
        defer { clients.forEach { $0.close() } }
        for (index, client) in clients.enumerated() { try client.send([OutboundFrame([UInt8(index)])]) }
        var peers: [UInt8: PeerID] = [:]
        for _ in clients {
            let (peer, frames) = try #require(try server.receive(timeoutMilliseconds: 10_000), "a message never arrived")
            peers[try #require(frames.first?.withBytes { $0.first })] = peer
        }
        #expect(peers.count == 2)
        for (index, peer) in peers { try server.send([OutboundFrame([index &+ 10])], to: peer) }
        for (index, client) in clients.enumerated() {
            let frames = try #require(try client.receive(timeoutMilliseconds: 10_000), "no answer for client \(index)")
            #expect(frames.first?.withBytes { Array($0) } == [UInt8(index) + 10])
        }
    }
}
