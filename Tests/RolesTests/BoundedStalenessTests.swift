import Config
import Foundation
import Testing
import Transport
import Wire

/// Bounded mode, driven push by push in an order that once deadlocked the server.
@Suite struct BoundedStalenessTests {
    /// One scripted worker: a client that registers with a rank and pulls, then pushes a zero gradient (batch 1) when told.
    struct ScriptedWorker {
        let server: ScriptedServer
        let client: InMemoryClient
        let rank: Int32
        var heldVersion: UInt64 = 0

        init(_ server: ScriptedServer, rank: Int32) throws {
            self.server = server
            self.rank = rank
            client = server.network.connect()
            #expect(try server.ask(server.register(rank: rank), from: client).0 == .welcome)
            try client.send([OutboundFrame(Header(kind: .pull, jobID: server.run.jobID, sender: rank).encoded())])
            _ = try #require(try awaitWeights())
        }

        func sendPush() throws {
            let frames = [OutboundFrame(Header(kind: .push, jobID: server.run.jobID, sender: rank, elementType: .float32,
                                               version: heldVersion, aux: 1, count: UInt64(server.run.spec.layout.count)).encoded())]
            let gradient = OutboundFrame(count: 4 * server.run.spec.layout.count)
            gradient.withFloats { $0.update(repeating: 0) }
            try client.send(frames + [gradient])
        }

        /// The version of the weights answering this worker's push, or nil if none come within `timeout` ms.
        mutating func awaitWeights(timeout: Int = 5000) throws -> UInt64? {
            guard let received = try client.receive(timeoutMilliseconds: timeout) else { return nil }
            let version = try withFrameBytes(received) { try Message.decode($0, maxPayloadBytes: 1 << 24).header.version }
            heldVersion = version
            return version
        }
    }

    /// Staleness 3, 4 workers. Workers 2 and 3 run ahead while 0 and 1 still hold version 0. A server that only
    /// checks the oldest worker lets worker 2 reach version 3; then neither 0 nor 1 can be applied without the
    /// other exceeding the bound, and every push waits forever. Every push must get its weights back, none staler
    /// than the bound.
    @Test func twoWorkersSharingTheOldestVersionDoNotDeadlockTheOthers() throws {
        let server = try ScriptedServer { c in
            c.cluster.workers = 4
            c.cluster.mode = .bounded
            c.cluster.staleness = 3
            c.train.epochs = 100
        }
        var workers = try (0 ..< 4).map { try ScriptedWorker(server, rank: Int32($0)) }
        var staleness: [Int] = []
        func push(_ ranks: [Int]) throws {
            let bases = ranks.map { workers[$0].heldVersion }
            for rank in ranks { try workers[rank].sendPush() }
            for (rank, base) in zip(ranks, bases) {
                let version = try #require(try workers[rank].awaitWeights(), "worker \(rank)'s push was never answered")
                staleness.append(Int(version) - 1 - Int(base))
            }
        }
        try push([2])
        try push([3])
        try push([2, 0, 1])
        try push([3, 2, 0, 1])
        #expect(staleness.allSatisfy { $0 <= 3 }, "staleness \(staleness)")
    }
}
