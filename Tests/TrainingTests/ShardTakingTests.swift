import Config
import Data
import Foundation
import Testing
import Training

/// A worker keeps only its shard of the training set: the rows it trains on must be exactly those it would have
/// read from the whole set, and the whole set must be let go. A worker that reads its shard alone from the file,
/// knowing the whole set only from its server's facts, must hold the very same rows, bit for bit.
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
            let shard = try run.takeShard(rank: rank, workers: workers)
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
        let shard = try run.takeShard(rank: 1, workers: 2)
        #expect(shard.location(ofRow: 0) == whole.location(ofRow: 1))
        #expect(shard.location(ofRow: 2) == whole.location(ofRow: 5))
    }

    /// A temporary file holding `text`; its path.
    static func file(_ name: String, _ text: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-shard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The digits' training CSV with each label written as the name "digit N", and the label column last.
    static func namedDigits() throws -> String {
        let lines = try String(contentsOfFile: digits.appendingPathComponent("train.csv").path, encoding: .utf8).split(separator: "\n")
        return try file("named.csv", lines.map { line in
            let fields = line.split(separator: ",")
            return (fields.dropFirst() + ["digit \(fields[0])"]).joined(separator: ",")
        }.joined(separator: "\n") + "\n")
    }

    /// Data configs a worker reads by shard: every file format, the scalings, class names and a held-out test set.
    static func fileConfigs() throws -> [(String, RunConfig)] {
        func config(_ format: DataFormat, _ train: String, labels: String? = nil, scale: ScalingKind = .standard) -> RunConfig {
            var config = RunConfig()
            config.data.format = format
            config.data.train = digits.appendingPathComponent(train).path
            config.data.trainLabels = labels.map { digits.appendingPathComponent($0).path }
            config.data.scale = scale
            return config
        }
        var named = config(.csv, "train.csv", scale: .minmax)
        named.data.train = try namedDigits()
        named.data.labelColumn = .position(-1)
        named.data.testFraction = 0.2
        var mlp = config(.libsvm, "train.libsvm", scale: .none)
        mlp.model.kind = .mlp
        mlp.model.hidden = [8]
        // The NPY fixtures hold the digits' test split, here trained on.
        var npy = config(.npy, "npy/test-features-f4-bigendian.npy", labels: "npy/test-labels-i8.npy")
        npy.data.testFraction = 0.25
        return [("csv", config(.csv, "train.csv")), ("named csv, held-out test", named), ("libsvm", mlp),
                ("idx", config(.idx, "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte", scale: .minmax)), ("npy", npy),
                ("npy in Fortran order", config(.npy, "npy/test-features-f4-fortran.npy", labels: "npy/test-labels-i8.npy"))]
    }

    @Test(arguments: [ShardMode.contiguous, .strided])
    func aShardReadAloneIsTheShardTakenFromTheWholeSet(mode: ShardMode) throws {
        for (name, var config) in try Self.fileConfigs() {
            config.data.shard = mode
            let whole = try PreparedRun(config: config)
            // Through the facts' JSON, as they travel.
            let told = try PreparedRun(config: config, facts: DataFacts(json: whole.facts.json))
            #expect(told.readsShardAlone && told.train.rows == 0 && told.test == nil, "\(name)")
            #expect(told.spec == whole.spec && told.spec.layout.hash == whole.spec.layout.hash && told.classes == whole.classes
                    && told.classNames == whole.classNames && told.jobID == whole.jobID, "\(name)")
            for workers in [1, 3] {
                var rows = 0
                for rank in 0 ..< workers {
                    var (reader, holder) = (told, whole)
                    let read = try reader.takeShard(rank: rank, workers: workers), taken = try holder.takeShard(rank: rank, workers: workers)
                    #expect(read.features.map(\.bitPattern) == taken.features.map(\.bitPattern) && read.targets == taken.targets,
                            "\(name), rank \(rank) of \(workers)")
                    #expect(read.sourceLines == taken.sourceLines && read.classNames == taken.classNames && read.source == taken.source,
                            "\(name), rank \(rank) of \(workers)")
                    rows += read.rows
                }
                #expect(rows == whole.train.rows, "\(name): the shards of \(workers) workers cover the training rows")
            }
        }
    }

    /// The `DataError` that `body` throws; nil (failing the caller's expectation) if it succeeds.
    func dataError(_ body: () throws -> Void) -> DataError? {
        do { try body() } catch { return error as? DataError }
        return nil
    }

    /// A worker whose copy of the training file is not its server's says so, naming the file, rather than train on
    /// other rows than the server's shards hold.
    @Test func aWorkersFileThatIsNotItsServersIsRefused() throws {
        var config = RunConfig()
        config.data.format = .csv
        config.data.train = try Self.file("a.csv", "0,1,2\n1,3,4\n1,5,6\n0,7,8\n")
        config.model.kind = .logistic
        let facts = try PreparedRun(config: config).facts
        func shardOfCopy(_ text: String) throws -> DataError? {
            var copy = config
            copy.data.train = try Self.file("a.csv", text)
            var run = try PreparedRun(config: copy, facts: facts)
            return dataError { _ = try run.takeShard(rank: 0, workers: 2) }
        }
        let shorter = try #require(try shardOfCopy("0,1,2\n1,3,4\n1,5,6\n"))
        #expect(shorter.message == "holds 3 samples, where the server's copy of it holds 4")
        #expect(shorter.hint == "every host of a job needs the very same data files")
        #expect(try shardOfCopy("0,1,2,9\n1,3,4,9\n1,5,6,9\n0,7,8,9\n")?.message == "3 features a row, where the server's copy has 2")
        #expect(try shardOfCopy("a,1,2\nb,3,4\nb,5,6\na,7,8\n")?.message == "its labels name classes, where the server's copy has numbers")
        // Rows outside the shard are not read, so a fault there is the server's to find.
        #expect(try shardOfCopy("0,1,2\n1,3,4\n1,x,6\n0,7,8\n") == nil)
        #expect(try shardOfCopy("0,1,2\n7,3,4\n1,5,6\n0,7,8\n")?.message == "label 7.0 is not a class index in 0...1")

        var named = config
        named.data.train = try Self.file("b.csv", "a,1,2\nb,3,4\nb,5,6\na,7,8\n")
        let namedFacts = try PreparedRun(config: named).facts
        named.data.train = try Self.file("b.csv", "c,1,2\nb,3,4\nb,5,6\na,7,8\n")
        var stranger = try PreparedRun(config: named, facts: namedFacts)
        #expect(dataError { _ = try stranger.takeShard(rank: 0, workers: 2) }?.message == "class 'c' is not among the server's copy's classes")
    }

    /// A file of one row has no row to hold out for `data.test_fraction` and keep one to train on.
    @Test func aOneRowFileCannotHoldOutATestSet() throws {
        var config = RunConfig()
        config.data.format = .csv
        config.data.train = try Self.file("one.csv", "0,1,2\n")
        config.data.testFraction = 0.5
        let error = try #require(dataError { _ = try PreparedRun(config: config) })
        #expect(error.message == "one row cannot be split into a training and a test set" && error.hint == "leave data.test_fraction out")
        config.data.train = try Self.file("two.csv", "0,1,2\n1,3,4\n")
        let split = try PreparedRun(config: config)
        #expect(split.train.rows == 1 && split.test?.rows == 1)
    }

    /// Facts that this config could not have given are refused: the server that sent them runs another release.
    @Test func factsThatDisagreeWithTheConfigAreRefused() throws {
        var config = RunConfig()
        config.data.format = .csv
        config.data.train = Self.digits.appendingPathComponent("train.csv").path
        let facts = try PreparedRun(config: config).facts
        func refusal(_ change: (inout RunConfig) -> Void) -> String? {
            var changed = config
            change(&changed)
            do { _ = try PreparedRun(config: changed, facts: facts) } catch { return error.message }
            return nil
        }
        #expect(refusal { _ in } == nil)
        #expect(refusal { $0.data.scale = .minmax } == "no scaling, where this config scales (data.scale: minmax)")
        #expect(refusal { $0.data.testFraction = 0.1 } == "1437 training rows of 1437, where this config trains on 1293")
        #expect(refusal { $0.model.kind = .linear } == "10 classes, where this config's model has none")
        #expect(refusal { $0.model.classes = 12 } == "10 classes, where this config's model has 12")
    }
}
