import Config
import Data
import Models
import Optimizers
import Roles
import Testing
import Training

/// Parameters split over S server shards train exactly as on one server: every shard clips by the norm of the
/// whole aggregated gradient, so S ∈ {2, 3} ends within 1e-6 (relative) of S = 1.
@Suite struct ShardEquivalenceTests {
    func config(servers: Int, workers: Int = 2, model: ModelKind = .mlp, optimizer: OptimizerKind, mode: ConsistencyMode = .sync) -> RunConfig {
        var c = RunConfig()
        c.data.format = .synthetic
        c.data.generator = .blobs
        c.data.features = 12
        c.data.classes = 5
        c.data.samples = 60 * workers * 4
        c.data.testSamples = 200
        c.data.shard = .strided
        c.model.kind = model
        c.model.hidden = [16]
        c.model.initializer = .heNormal
        c.optimizer.kind = optimizer
        c.optimizer.lr = optimizer == .adam ? 0.01 : 0.05
        // Tight enough that clipping acts at every step: a shard clipping by its own slice's norm would drift away.
        c.optimizer.clipNorm = 0.05
        c.optimizer.l2 = 1e-4
        c.train.epochs = 1
        c.train.shuffle = false
        c.train.batchSize = 4
        c.cluster.workers = workers
        c.cluster.servers = servers
        c.cluster.mode = mode
        return c
    }

    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        let difference = zip(a, b).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
        return difference / b.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
    }

    static let cases: [(Int, OptimizerKind)] = [2, 3].flatMap { s in [OptimizerKind.sgd, .momentum, .adam].map { (s, $0) } }

    @Test(arguments: cases.indices)
    func syncShardsMatchOneServer(index: Int) throws {
        let (servers, optimizer) = Self.cases[index]
        let sharded = try InProcessCluster.run(config(servers: servers, optimizer: optimizer))
        let single = try InProcessCluster.run(config(servers: 1, optimizer: optimizer))

        #expect(sharded.summary.steps == 60 && single.summary.steps == 60)
        #expect(sharded.parameters.count == single.parameters.count)
        let difference = Self.relativeDifference(sharded.parameters, single.parameters)
        #expect(difference < 1e-6, "\(servers) shards, \(optimizer): relative difference \(difference)")
        #expect(sharded.rejects.isEmpty && single.rejects.isEmpty)
        #expect(sharded.summary.servers == servers && single.summary.servers == nil)
        #expect(abs(sharded.summary.testLoss! - single.summary.testLoss!) < 1e-5, "shard 0 evaluates the assembled model")

        // The final checkpoint holds the whole model and optimizer state, gathered from every shard.
        let shardedRun = try PreparedRun(config: config(servers: servers, optimizer: optimizer))
        let singleRun = try PreparedRun(config: config(servers: 1, optimizer: optimizer))
        let a = try #require(try ParameterServer.latestCheckpoint(of: shardedRun, in: RunDirectory(resuming: sharded.directory)))
        let b = try #require(try ParameterServer.latestCheckpoint(of: singleRun, in: RunDirectory(resuming: single.directory)))
        #expect(a.parameters == sharded.parameters)
        #expect(a.firstMoment.count == b.firstMoment.count && a.secondMoment.count == b.secondMoment.count)
        if !b.firstMoment.isEmpty { #expect(Self.relativeDifference(a.firstMoment, b.firstMoment) < 1e-6) }
        if !b.secondMoment.isEmpty { #expect(Self.relativeDifference(a.secondMoment, b.secondMoment) < 1e-6) }
    }

    @Test func clippingByValueThenGlobalNormMatchesOneServer() throws {
        func clipped(_ servers: Int) -> RunConfig {
            var c = config(servers: servers, optimizer: .momentum)
            c.optimizer.clipValue = 0.01
            return c
        }
        let difference = Self.relativeDifference(try InProcessCluster.run(clipped(3)).parameters, try InProcessCluster.run(clipped(1)).parameters)
        #expect(difference < 1e-6, "relative difference \(difference)")
    }

    /// One async worker applies its gradients in order, so the run is deterministic: shards clip by the norm the
    /// worker announces for its whole gradient.
    @Test(arguments: [2, 3])
    func asyncShardsClipByTheWorkersWholeGradient(servers: Int) throws {
        let sharded = try InProcessCluster.run(config(servers: servers, workers: 1, optimizer: .adam, mode: .async))
        let single = try InProcessCluster.run(config(servers: 1, workers: 1, optimizer: .adam, mode: .async))
        let difference = Self.relativeDifference(sharded.parameters, single.parameters)
        #expect(difference < 1e-6, "relative difference \(difference)")
        #expect(sharded.summary.steps == single.summary.steps)
    }

    /// The summary counts every shard's traffic: at least all the workers sent and received, which with one shard
    /// is all there is, and with more is all but the shards' traffic with each other.
    @Test(arguments: [1, 2, 3])
    func theSummaryCountsEveryShardsTraffic(servers: Int) throws {
        let outcome = try InProcessCluster.run(config(servers: servers, optimizer: .adam, mode: .async))
        let sent = try #require(outcome.summary.bytesSent), received = try #require(outcome.summary.bytesReceived)
        #expect(received >= outcome.workerBytesSent && sent >= outcome.workerBytesReceived, "\(outcome.summary)")
        if servers == 1 { #expect(received == outcome.workerBytesSent && sent == outcome.workerBytesReceived) }
        #expect(outcome.summary.rejectedMessages == 0)
    }

    @Test func repeatedShardedSyncRunsAreBitIdentical() throws {
        var c = config(servers: 3, workers: 3, optimizer: .adam)
        c.train.shuffle = true
        let first = try InProcessCluster.run(c)
        let second = try InProcessCluster.run(c)
        #expect(first.parameters == second.parameters)
    }

    @Test(arguments: [ConsistencyMode.async, .bounded])
    func unsyncedShardedRunsConverge(mode: ConsistencyMode) throws {
        var c = config(servers: 2, workers: 3, model: .softmax, optimizer: .sgd, mode: mode)
        c.optimizer.clipNorm = nil
        c.optimizer.lr = 0.1
        c.train.epochs = 3
        c.cluster.staleness = 4
        let outcome = try InProcessCluster.run(c)
        #expect((outcome.summary.testAccuracy ?? 0) > 0.9, "\(mode): \(outcome.summary)")
        #expect(outcome.summary.samples == 3 * c.data.samples)
        if mode == .bounded { #expect((outcome.summary.maxStaleness ?? .max) <= 4) }
    }

    @Test func shardPlanSplitsContiguouslyAndRefusesEmptyShards() throws {
        #expect(try ShardPlan(parameterCount: 10, shards: 3).ranges == [0 ..< 3, 3 ..< 6, 6 ..< 10])
        #expect(try ShardPlan(parameterCount: 7, shards: 7).ranges.allSatisfy { $0.count == 1 })
        #expect(throws: ShardPlanError.self) { try ShardPlan(parameterCount: 2, shards: 3) }
        #expect(throws: ShardPlanError.self) { try ShardPlan(parameterCount: 2, shards: 0) }
    }
}
