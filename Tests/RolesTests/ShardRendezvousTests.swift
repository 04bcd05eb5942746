import Foundation
import Roles
import Testing
import Transport
import Wire

/// Shards that know only shard 0's address (ps-lite's variables) join it, over the in-memory transport.
@Suite struct ShardRendezvousTests {
    /// Runs `body` on a thread of its own; `wait` returns what it returned or threw.
    final class Background<T>: @unchecked Sendable {
        // @unchecked: `result` is written once by the thread before `done` is signalled, read after.
        private var result: Result<T, Error>?
        private let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping @Sendable () throws -> T) {
            Thread { [self] in
                result = Result { try body() }
                done.signal()
            }.start()
        }
        func wait() throws -> T {
            done.wait()
            return try result!.get()
        }
    }

    @Test func shardsGetIndexesInJoinOrderAndEarlyMessagesWaitForTheServer() throws {
        let network = InMemoryNetwork()
        let early = network.connect()
        try early.send([OutboundFrame(Header(kind: .register, jobID: 7, sender: -1).encoded())])
        let clients = [network.connect(), network.connect()]
        let joins = clients.enumerated().map { index, client in
            Background { try ShardRendezvous.join(through: client, endpoint: "tcp://10.0.0.\(index + 2):4000", jobID: 7, timeout: 30, maxPayloadBytes: 1 << 20) }
        }
        let gathered = try ShardRendezvous.gather(on: network, jobID: 7, shards: 3, timeout: 30, maxPayloadBytes: 1 << 20) { _ in }
        let indexes = try joins.map { try $0.wait() }
        #expect(Set(gathered.endpoints) == ["tcp://10.0.0.2:4000", "tcp://10.0.0.3:4000"])
        for (index, shard) in indexes.enumerated() {
            #expect(gathered.endpoints[shard - 1] == "tcp://10.0.0.\(index + 2):4000", "each shard's index is its place in the endpoints")
        }
        // The worker's register reaches the server first, untouched.
        let replaying = ReplayingServerTransport(network, replaying: gathered.held)
        let first = try #require(try replaying.receive(timeoutMilliseconds: 0))
        let kind = try withFrameBytes(first.frames) { try Message.decode($0, maxPayloadBytes: 1 << 20).header.kind }
        #expect(kind == .register && gathered.held.count == 1)
        #expect(try replaying.receive(timeoutMilliseconds: 0) == nil)
    }

    @Test func aShardOfAnotherJobIsRefusedAndShardZeroSaysWhoIsMissing() throws {
        let network = InMemoryNetwork()
        let stranger = Background { try ShardRendezvous.join(through: network.connect(), endpoint: "tcp://10.0.0.9:1", jobID: 8, timeout: 30, maxPayloadBytes: 1 << 20) }
        #expect {
            try ShardRendezvous.gather(on: network, jobID: 7, shards: 2, timeout: 1, maxPayloadBytes: 1 << 20) { _ in }
        } throws: { error in
            "\(error)".contains("shard 0 heard from 0 of the 1 other server shards in 1 s")
        }
        #expect {
            try stranger.wait()
        } throws: { error in
            "\(error)".contains("server shard 0 refused this shard: this is another job")
        }
    }
}
