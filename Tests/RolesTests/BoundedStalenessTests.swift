import Config
import Foundation
import Testing
import Transport
import Wire

/// Bounded mode, driven push by push in an order that once deadlocked the server.
@Suite struct BoundedStalenessTests {
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
            for rank in ranks { try workers[rank].sendPush(gradient: 0) }
            for (rank, base) in zip(ranks, bases) {
                let version = try #require(try workers[rank].awaitWeights()?.version, "worker \(rank)'s push was never answered")
                staleness.append(Int(version) - 1 - Int(base))
            }
        }
        try push([2])
        try push([3])
        try push([2, 0, 1])
        try push([3, 2, 0, 1])
        #expect(staleness.allSatisfy { $0 <= 3 }, "staleness \(staleness)")
    }

    /// Staleness 2, 3 workers. Worker 1 runs ahead, its second push waits for the others, and worker 1 then goes
    /// silent (a starved process, not a dead one): it is declared lost with its push queued. The push must still
    /// be answered, or worker 1 waits forever. Later, back with a push older than the bound, it is answered with
    /// the current weights, the push unapplied, and it trains on from there.
    @Test func aWorkerLostWhileItsPushWaitsIsAnsweredAndGoesOn() throws {
        let server = try ScriptedServer(heartbeatTimeout: 1.5) { c in
            c.cluster.workers = 3
            c.cluster.mode = .bounded
            c.cluster.staleness = 2
            c.train.epochs = 100
        }
        var workers = try (0 ..< 3).map { try ScriptedWorker(server, rank: Int32($0)) }
        func push(_ rank: Int) throws -> UInt64? {
            try workers[rank].sendPush(gradient: 1)
            return try workers[rank].awaitWeights()?.version
        }
        #expect(try push(1) == 1)
        try workers[1].sendPush(gradient: 1)
        #expect(try workers[1].awaitWeights(timeout: 100) == nil, "applying it would put workers 0 and 2 beyond the bound")
        while !server.logLines.waitFor("worker 1 lost", timeout: 0.1) {
            for rank in [0, 2] { try workers[rank].sendHeartbeat() }
        }
        #expect(try push(0) == 2)
        #expect(try push(2) == 3)
        #expect(try workers[1].awaitWeights()?.version == 4, "worker 1's queued push is applied while it is lost, 2 versions old")
        #expect(try push(0) == 5)
        #expect(try push(2) == 6)
        #expect(try push(0) == 7)
        #expect(try push(1) == 7, "based on version 4, three versions behind: answered, not applied")
        #expect(server.logLines.waitFor("came 3 versions late (cluster.staleness 2)", timeout: 1))
        #expect(try push(1) == 8, "back from its silence, worker 1 trains on")
    }

    /// Staleness 1, 2 workers: worker 0's second push waits for worker 1, which holds version 0. When worker 1
    /// finishes instead of pushing, nothing waits for it any more: worker 0's push is applied at once.
    @Test func aWorkerFinishingReleasesThePushesThatWaitedForIt() throws {
        // Nobody is lost to silence here: only the finish can release the push.
        let server = try ScriptedServer(heartbeatTimeout: 60) { c in
            c.cluster.mode = .bounded
            c.cluster.staleness = 1
            c.train.epochs = 100
        }
        var workers = try (0 ..< 2).map { try ScriptedWorker(server, rank: Int32($0)) }
        try workers[0].sendPush(gradient: 1)
        #expect(try workers[0].awaitWeights()?.version == 1)
        try workers[0].sendPush(gradient: 1)
        #expect(try workers[0].awaitWeights(timeout: 100) == nil, "applying it would leave worker 1 two versions behind")
        try workers[1].client.send([OutboundFrame(Header(kind: .barrier, jobID: server.run.jobID, sender: 1).encoded())])
        #expect(try workers[0].awaitWeights(timeout: 2000)?.version == 2, "released when worker 1 finished")
    }
}

