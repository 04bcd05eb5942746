import Config
import Data
import Models
import Optimizers
import Testing

/// Sync training with N workers and per-worker batch b equals one process with batch N·b: with strided shards
/// and no shuffling, each step's N worker batches together are exactly the single process's batch.
@Suite struct SyncEquivalenceTests {
    func config(workers: Int, model: ModelKind, optimizer: OptimizerKind, perWorkerBatch: Int = 4) -> RunConfig {
        var c = RunConfig()
        c.data.format = .synthetic
        c.data.generator = .blobs
        c.data.features = 12
        c.data.classes = 5
        c.data.samples = 100 * workers * perWorkerBatch // one epoch is exactly 100 steps
        c.data.testSamples = 200
        c.data.shard = .strided
        c.model.kind = model
        c.model.hidden = [16]
        c.model.initializer = .heNormal
        c.optimizer.kind = optimizer
        c.optimizer.lr = optimizer == .adam ? 0.01 : 0.05
        c.optimizer.clipNorm = 1.0
        c.train.epochs = 1
        c.train.shuffle = false
        c.train.batchSize = perWorkerBatch
        c.cluster.workers = workers
        c.cluster.mode = .sync
        return c
    }

    static let cases: [(Int, ModelKind, OptimizerKind)] = [2, 4].flatMap { n in
        [ModelKind.softmax, .mlp].flatMap { m in [OptimizerKind.sgd, .momentum, .adam].map { (n, m, $0) } }
    }

    @Test(arguments: cases.indices)
    func workersMatchOneProcessWithTheirCombinedBatch(index: Int) throws {
        let (workers, model, optimizer) = Self.cases[index]
        let distributed = try InProcessCluster.run(config(workers: workers, model: model, optimizer: optimizer))
        var single = config(workers: workers, model: model, optimizer: optimizer)
        single.train.batchSize = workers * single.train.batchSize
        let (summary, reference) = try InProcessCluster.single(single)

        #expect(distributed.summary.steps == 100 && summary.steps == 100)
        let difference = zip(distributed.parameters, reference).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
        let size = reference.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        #expect(difference / size < 1e-5, "\(workers) workers, \(model), \(optimizer): relative difference \(difference / size)")
        #expect(difference > 0 || workers == 1, "bit-identical would suggest the comparison is not what it seems")
        #expect(distributed.rejects.isEmpty)
    }

    @Test func repeatedSyncRunsAreBitIdentical() throws {
        var c = config(workers: 4, model: .mlp, optimizer: .adam)
        c.train.shuffle = true
        c.data.shard = .contiguous
        let first = try InProcessCluster.run(c)
        let second = try InProcessCluster.run(c)
        #expect(first.parameters == second.parameters)
        #expect(first.summary.testLoss == second.summary.testLoss)
    }

    /// Payloads through shared memory change nothing but the way they travel: the same parameters, bit for bit,
    /// with one shard and with two (a model large enough that every payload goes through the segments).
    @Test(arguments: [1, 2])
    func sharedMemoryTrainsBitForBitAsTheConnectionDoes(servers: Int) throws {
        var c = config(workers: 2, model: .mlp, optimizer: .adam)
        c.data.features = 300
        c.model.hidden = [256]
        c.train.epochs = 1
        c.data.samples = 20 * 2 * c.train.batchSize
        c.cluster.servers = servers
        let connection = try InProcessCluster.run(c)
        let shared = try InProcessCluster.run(c, sharedMemory: true)
        #expect(shared.parameters == connection.parameters)
        #expect(shared.summary.steps == 20)
        #expect(shared.rejects.isEmpty)
        #expect(shared.serverLog.filter { $0.contains("registered") && $0.hasSuffix("payloads through shared memory") }.count == 2,
                "\(shared.serverLog.prefix(4))")
        #expect(!connection.serverLog.contains { $0.contains("shared memory") })
        // The workers count the payloads they passed, as over the connection; only their registrations differ, by
        // the offers they carry (about 130 bytes each).
        #expect(abs(shared.workerBytesSent - connection.workerBytesSent) < 2 * servers * 200)
    }
}

@Suite struct ConsistencyModeTests {
    func config(mode: ConsistencyMode, workers: Int = 4, staleness: Int = 4) -> RunConfig {
        var c = RunConfig()
        c.data.format = .synthetic
        c.data.generator = .blobs
        c.data.features = 10
        c.data.classes = 4
        c.data.samples = 4000
        c.data.testSamples = 500
        c.model.kind = .softmax
        c.optimizer.kind = .sgd
        c.optimizer.lr = 0.05
        c.train.epochs = 2
        c.train.batchSize = 16
        c.train.logEvery = 5
        c.cluster.workers = workers
        c.cluster.mode = mode
        c.cluster.staleness = staleness
        return c
    }

    @Test(arguments: [ConsistencyMode.async, .bounded])
    func unsyncedModesConverge(mode: ConsistencyMode) throws {
        let outcome = try InProcessCluster.run(config(mode: mode))
        #expect((outcome.summary.testAccuracy ?? 0) > 0.95, "\(mode): \(outcome.summary)")
        #expect(outcome.summary.samples == 2 * 4000, "every sample of every epoch is applied once")
        #expect(outcome.summary.steps == 2 * 4 * 63, "each worker pushes ceil(1000 / 16) = 63 batches an epoch")
    }

    @Test(arguments: [3, 5])
    func boundedModeNeverAppliesAGradientStalerThanTheBound(staleness: Int) throws {
        let outcome = try InProcessCluster.run(config(mode: .bounded, staleness: staleness))
        #expect((outcome.summary.maxStaleness ?? .max) <= staleness)
        let rows = try String(contentsOfFile: "\(outcome.directory)/metrics.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let column = 7 // max_staleness
        let seen = rows.compactMap { Int($0.split(separator: ",", omittingEmptySubsequences: false)[column]) }
        #expect(!seen.isEmpty && seen.allSatisfy { $0 <= staleness }, "per-interval staleness from metrics.csv: \(seen.max() ?? -1)")
    }

    @Test func syncModeSumsInRankOrderSoStalenessIsZero() throws {
        let outcome = try InProcessCluster.run(config(mode: .sync))
        #expect(outcome.summary.maxStaleness == 0)
        #expect(outcome.summary.steps == 2 * 63)
        #expect(outcome.summary.mode == "sync" && outcome.summary.workers == 4)
        #expect((outcome.summary.bytesSent ?? 0) > 2 * 63 * 4 * outcome.parameters.count * 4, "weights go to every worker every step")
    }
}
