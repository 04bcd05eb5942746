import Config
import Data
import Foundation
import Testing
import Training

/// A worker keeps only its shard of the training set: the rows it trains on must be exactly those it would have
/// read from the whole set, and the whole set must be let go.
@Suite struct ShardTakingTests {
    static let digits = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/digits")

    @Test(arguments: [ShardMode.contiguous, .strided], [1, 3, 4])
    func aTakenShardHoldsTheShardsRowsAndNothingElse(mode: ShardMode, workers: Int) throws {
        var config = RunConfig()
        config.data.samples = 103
        config.data.testSamples = 20
        config.data.features = 5
        config.data.shard = mode
        let whole = try PreparedRun(config: config)
        var taken: [Float] = []
        for rank in 0 ..< workers {
            var run = whole
            let shard = run.takeShard(rank: rank, workers: workers)
            let rows = whole.shardRows(rank: rank, workers: workers)
            var x = [Float](repeating: .nan, count: rows.count * 5), y = [Float](repeating: .nan, count: rows.count)
            whole.train.gather(rows[...], features: &x, targets: &y)
            #expect(shard.features == x && shard.targets == y && shard.featureCount == 5 && shard.source == whole.train.source)
            #expect(run.train.rows == 0 && run.train.featureCount == 5 && run.test == nil, "the whole set is let go")
            #expect(run.spec.layout.hash == whole.spec.layout.hash && run.jobID == whole.jobID)
            taken += shard.targets
        }
        #expect(taken.count == whole.train.rows)
    }

    @Test func aShardOfATextFileStillNamesTheFilesLines() throws {
        var config = RunConfig()
        config.data.format = .csv
        config.data.train = Self.digits.appendingPathComponent("train.csv").path
        config.data.test = Self.digits.appendingPathComponent("test.csv").path
        config.data.shard = .strided
        var run = try PreparedRun(config: config)
        let whole = run.train
        let shard = run.takeShard(rank: 1, workers: 2)
        #expect(shard.location(ofRow: 0) == whole.location(ofRow: 1))
        #expect(shard.location(ofRow: 2) == whole.location(ofRow: 5))
    }
}
