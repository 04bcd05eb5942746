import Data
import Testing

@Suite struct PreparationTests {
    @Test func standardScalingUsesTrainingStatisticsOnly() throws {
        var train = try CSVReader.read(path: Fixtures.digits("train.csv"))
        var test = try CSVReader.read(path: Fixtures.digits("test.csv"))
        let scaler = FeatureScaler(kind: .standard, fittedOn: train)
        scaler.apply(to: &train)
        let before = test.features
        scaler.apply(to: &test)
        let d = train.featureCount
        for j in [10, 20, 36] {
            let column = (0 ..< train.rows).map { Double(train.features[$0 * d + j]) }
            let mean = column.reduce(0, +) / Double(column.count)
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-4)
            #expect(test.features[j] == (before[j] - scaler.shift[j]) / scaler.divisor[j])
        }
        // Feature 0 is always 0 in digits: it stays finite (0) rather than dividing by zero.
        #expect(scaler.divisor[0] == 1 && train.features[0] == 0)
    }

    @Test func minmaxMapsTrainingDataIntoTheUnitInterval() throws {
        var train = try CSVReader.read(path: Fixtures.digits("train.csv"))
        FeatureScaler(kind: .minmax, fittedOn: train).apply(to: &train)
        #expect(train.features.min() == 0 && train.features.max() == 1)
    }

    /// Pins every synthetic kind's data, bit for bit: a seed names the same data set in every release.
    @Test(arguments: [(SyntheticKind.linear, 0x7A95_A1FD_03AD_9880), (.logistic, 0x99AA_3E33_370D_7BF7), (.softmax, 0xC15B_23C8_6B8D_7BF7),
                       (.blobs, 0x4C02_B3E9_EA88_00FE), (.teacherMLP, 0xE685_CBA1_B10D_7BF7)] as [(SyntheticKind, UInt64)])
    func syntheticDataIsPinned(kind: SyntheticKind, fingerprint: UInt64) {
        let (train, test) = SyntheticData(kind: kind, features: 7, classes: 3, noise: 0.3, seed: 11).generate(trainSamples: 60, testSamples: 20)
        // FNV-1a over the bits of every feature and target, train then test.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in train.features + train.targets + test.features + test.targets {
            hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01B3
        }
        #expect(hash == fingerprint, "\(kind): 0x\(String(hash, radix: 16))")
    }

    @Test(arguments: SyntheticKind.allCases)
    func syntheticDataIsSeededAndLabelled(kind: SyntheticKind) {
        let gen = SyntheticData(kind: kind, features: 8, classes: 4, noise: 0.1, seed: 3)
        let (train, test) = gen.generate(trainSamples: 500, testSamples: 100)
        let again = gen.generate(trainSamples: 500, testSamples: 100)
        #expect(train.rows == 500 && test.rows == 100 && train.featureCount == 8)
        #expect(train.features == again.train.features && train.targets == again.train.targets)
        #expect(test.features != Array(train.features.prefix(test.features.count)), "train and test use different streams")
        let other = SyntheticData(kind: kind, features: 8, classes: 4, noise: 0.1, seed: 4).generate(trainSamples: 500, testSamples: 0).train
        #expect(other.features != train.features)
        if let classes = kind.classCount(requested: 4) {
            #expect(throws: Never.self) { try train.validateClassLabels(classes: classes) }
            #expect(Set(train.targets).count == classes, "every class occurs")
        } else {
            let mean = train.targets.reduce(0, +) / Float(train.rows)
            #expect(train.targets.contains { abs($0 - mean) > 0.1 }, "targets vary")
        }
    }

    @Test(arguments: [ShardMode.contiguous, .strided], [1, 2, 3, 4, 8])
    func shardsPartitionTheRows(mode: ShardMode, workers: Int) {
        let total = 1437
        let parts = (0 ..< workers).map { Shard(rank: $0, count: workers, mode: mode).indices(total: total) }
        #expect(parts.flatMap { $0 }.sorted() == Array(0 ..< total))
        let sizes = parts.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1)
        if mode == .contiguous && workers == 2 { #expect(parts[0] == Array(0 ..< 718)) }
        if mode == .strided && workers == 3 { #expect(parts[1].prefix(3) == [1, 4, 7]) }
    }

    @Test func epochBatchesShuffleBySeedEpochAndRank() {
        let rows = Array(100 ..< 110)
        let a = EpochBatches(shardRows: rows, batchSize: 4, epoch: 0, seed: 1)
        #expect(a.count == 3 && a.map(\.count) == [4, 4, 2])
        #expect(a.flatMap { $0 }.sorted() == rows)
        #expect(a.order == EpochBatches(shardRows: rows, batchSize: 4, epoch: 0, seed: 1).order)
        #expect(a.order != EpochBatches(shardRows: rows, batchSize: 4, epoch: 1, seed: 1).order)
        #expect(a.order != EpochBatches(shardRows: rows, batchSize: 4, epoch: 0, seed: 1, rank: 1).order)
        let kept = EpochBatches(shardRows: rows, batchSize: 4, epoch: 0, seed: 1, shuffle: false, dropLast: true)
        #expect(kept.count == 2 && Array(kept.map(Array.init)) == [[100, 101, 102, 103], [104, 105, 106, 107]])
    }

    @Test func selectingRowsKeepsTheirValuesOrderAndLines() {
        let data = Dataset(features: [0, 1, 10, 11, 20, 21], targets: [0, 1, 2, 3, 4, 5], featureCount: 2, targetWidth: 2, source: "t.csv",
                           sourceLines: [2, 3, 5])
        let picked = data.selecting(rows: [2, 0])
        #expect(picked.features == [20, 21, 0, 1] && picked.targets == [4, 5, 0, 1])
        #expect(picked.featureCount == 2 && picked.targetWidth == 2 && picked.rows == 2)
        #expect(picked.location(ofRow: 0) == "t.csv, line 5" && picked.location(ofRow: 1) == "t.csv, line 2")
        #expect(data.selecting(rows: []).rows == 0)
    }

    /// The held-out rows are a seeded random fraction (at least one row, and one left), in file order, and the
    /// same on every machine: pinned, as a resumed job's test set must not move.
    @Test func heldOutRowsAreASeededFractionInFileOrder() {
        let held = Dataset.heldOutRows(fraction: 0.25, of: 100, seed: 3)
        #expect(held.count == 25 && held == held.sorted() && Set(held).count == 25 && held.allSatisfy { (0 ..< 100).contains($0) })
        #expect(held == Dataset.heldOutRows(fraction: 0.25, of: 100, seed: 3) && held != Dataset.heldOutRows(fraction: 0.25, of: 100, seed: 4))
        #expect(Dataset.heldOutRows(fraction: 0.1, of: 100, seed: 0) == [20, 21, 33, 39, 50, 51, 59, 83, 84, 86])
        #expect(Dataset.heldOutRows(fraction: 0.01, of: 10, seed: 0).count == 1 && Dataset.heldOutRows(fraction: 0.99, of: 10, seed: 0).count == 9)
    }

    @Test func holdingOutSplitsTheRowsWithTheirValuesAndLines() {
        let data = Dataset(features: (0 ..< 20).map(Float.init), targets: (0 ..< 10).map(Float.init), featureCount: 2, source: "t.csv",
                           sourceLines: Array(11 ... 20))
        let (kept, heldOut) = data.holdingOut(fraction: 0.3, seed: 7)
        let held = Dataset.heldOutRows(fraction: 0.3, of: 10, seed: 7)
        #expect(heldOut.targets == held.map(Float.init) && heldOut.features == held.flatMap { [Float(2 * $0), Float(2 * $0 + 1)] })
        #expect(kept.targets == (0 ..< 10).filter { !held.contains($0) }.map(Float.init))
        #expect(heldOut.sourceLines == held.map { $0 + 11 } && kept.rows + heldOut.rows == 10)
    }

    @Test func gatherCopiesRowsInOrder() {
        let data = Dataset(features: [0, 1, 10, 11, 20, 21], targets: [0, 1, 2], featureCount: 2, source: "t")
        var x = [Float](repeating: -1, count: 4), y = [Float](repeating: -1, count: 2)
        data.gather([2, 0], features: &x, targets: &y)
        #expect(x == [20, 21, 0, 1] && y == [2, 0])
    }
}
