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
}
