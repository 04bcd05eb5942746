import Config
import Data
import Models
import Optimizers

/// A config turned into things that run: data in memory, the model's shape, optimizer settings and schedule.
public struct PreparedRun: Sendable {
    public let config: RunConfig
    public private(set) var train: Dataset
    public private(set) var test: Dataset?
    public let spec: NetworkSpec
    /// Classes of a classification task; nil for regression.
    public var classes: Int? { facts.classes }
    /// What each class index stands for, when the labels were class names (CSV): sorted. Nil for number labels.
    public var classNames: [String]? { facts.classNames }

    /// The whole data set's facts: what a server tells its workers, or, in a worker's run, what its server told.
    public let facts: DataFacts
    /// A worker's run (`init(config:facts:)`): `train` holds no rows, and `takeShard` reads the shard's rows from the
    /// training file.
    public let readsShardAlone: Bool

    /// Loads and checks the data named by `config` and derives the model from it.
    public init(config: RunConfig) throws {
        self.config = config
        var (train, test) = try Self.load(config.data)
        let fileRows = train.rows
        if let fraction = config.data.testFraction {
            guard train.rows >= 2 else {
                throw DataError(source: train.source, message: "one row cannot be split into a training and a test set",
                                hint: "leave data.test_fraction out")
            }
            let split = train.holdingOut(fraction: fraction, seed: config.data.seed)
            train = split.kept
            test = split.heldOut
        }
        let classNames = try Self.unifyClassNames(&train, &test)
        // Before scaling, which takes the training set's width for the test set's.
        if let test, test.featureCount != train.featureCount {
            throw DataError(source: test.source, message: "\(test.featureCount) features, but the training set has \(train.featureCount)",
                            hint: config.data.format == .libsvm ? "set data.features to the full width" : "train and test must come from the same data set")
        }
        var scaler: FeatureScaler?
        if config.data.scale != .none {
            scaler = FeatureScaler(kind: config.data.scale, fittedOn: train)
            scaler!.apply(to: &train)
            if test != nil { scaler!.apply(to: &test!) }
        }
        let m = config.model
        let head = m.outputHead
        var classes: Int? = nil
        switch head {
        case .binary: classes = 2
        case .multiclass:
            let inferred = Int(max(train.targets.max() ?? 0, test?.targets.max() ?? 0)) + 1
            classes = m.classes ?? (config.data.format == .synthetic ? config.data.classes : max(inferred, 2))
        case .regression: classes = nil
        }
        if let names = classNames {
            let listed = nameList(names.map(Self.shown))
            guard let classes else {
                throw DataError(source: train.source, message: "the labels name classes (\(listed)); a \(m.kind.rawValue) model predicts numbers",
                                hint: "use model.kind: softmax or logistic, or an MLP's model.head: multiclass or binary")
            }
            guard names.count <= classes else {
                throw DataError(source: train.source, message: "the labels name \(names.count) classes (\(listed)) for a model of \(classes)",
                                hint: head == .binary ? "a binary model takes two classes; use model.kind: softmax for more"
                                    : "raise model.classes, or leave it out to count the names")
            }
        }
        if let classes {
            try train.validateClassLabels(classes: classes)
            try test?.validateClassLabels(classes: classes)
        }
        self.spec = Self.spec(config, head: head, featureCount: train.featureCount, targetWidth: train.targetWidth, classes: classes)
        self.train = train
        self.test = test
        self.facts = DataFacts(fileRows: fileRows, trainRows: train.rows, featureCount: train.featureCount, targetWidth: train.targetWidth,
                               classes: classes, classNames: classNames, scaler: scaler)
        readsShardAlone = false
    }

    /// A worker's run, from the facts its server told of the data set: the model its server holds, and no rows
    /// until `takeShard` reads the shard's rows alone from the training file. Refuses facts this config could not
    /// have given (the server runs another release).
    public init(config: RunConfig, facts: DataFacts) throws(DataFactsError) {
        precondition(config.data.format != .synthetic && config.data.train != nil, "synthetic data is generated whole, not read by shard")
        let d = config.data, head = config.model.outputHead
        let heldOut = d.testFraction.map { Dataset.heldOutRows(fraction: $0, of: max(facts.fileRows, 2), seed: d.seed).count } ?? 0
        guard facts.trainRows == facts.fileRows - heldOut else {
            throw DataFactsError("\(facts.trainRows) training rows of \(facts.fileRows), where this config trains on \(facts.fileRows - heldOut)")
        }
        guard (facts.scaler != nil) == (d.scale != .none) else {
            throw DataFactsError(facts.scaler == nil ? "no scaling, where this config scales (data.scale: \(d.scale.rawValue))" : "a scaling, where this config has none")
        }
        let classes: Int? = switch head {
        case .regression: nil
        case .binary: 2
        case .multiclass: config.model.classes ?? facts.classes
        }
        guard facts.classes == classes, classes == nil || facts.targetWidth == 1 else {
            throw DataFactsError("\(facts.classes.map(String.init) ?? "no") classes, where this config's model has \(classes.map(String.init) ?? "none")")
        }
        self.config = config
        train = Dataset(features: [], targets: [], featureCount: facts.featureCount, targetWidth: facts.targetWidth, source: d.train!)
        test = nil
        spec = Self.spec(config, head: head, featureCount: facts.featureCount, targetWidth: facts.targetWidth, classes: classes)
        self.facts = facts
        readsShardAlone = true
    }

    /// The network of `config`'s model for rows of `featureCount` features and `targetWidth` targets.
    static func spec(_ config: RunConfig, head: OutputHead, featureCount: Int, targetWidth: Int, classes: Int?) -> NetworkSpec {
        let m = config.model
        let outputs = classes.map { $0 == 2 && head == .binary ? 1 : $0 } ?? targetWidth
        return NetworkSpec(inputSize: featureCount, hiddenSizes: m.kind == .mlp ? m.hidden : [], outputSize: outputs,
                           activation: m.activation, dropout: m.kind == .mlp ? m.dropout : 0, head: head)
    }

    /// With labels that name classes: the names of the training and test files together, sorted, each file's
    /// labels made indices of them. Nil when the labels are numbers; an error when one file names and one numbers.
    static func unifyClassNames(_ train: inout Dataset, _ test: inout Dataset?) throws(DataError) -> [String]? {
        guard train.classNames != nil || test?.classNames != nil else { return nil }
        if let testSource = test?.source, (train.classNames == nil) != (test?.classNames == nil) {
            let (numbered, named) = train.classNames == nil ? (train.source, testSource) : (testSource, train.source)
            throw DataError(source: numbered, message: "its labels are numbers, while \(named) names its classes",
                            hint: "the training and test files need labels of one kind")
        }
        let names = Set((train.classNames ?? []) + (test?.classNames ?? [])).sorted()
        train.useClassNames(names)
        test?.useClassNames(names)
        return names
    }

    /// "setosa=0, versicolor=1, virginica=2": the class names and the index each stands for (the first 10 of more).
    public var classNamesDescription: String? {
        classNames.map { names in
            nameList(names.enumerated().map { "\(Self.shown($1))=\($0)" }, counting: "classes")
        }
    }

    /// A class name as a list shows it: in quotes, with escapes, where it holds what would blur the list (a comma,
    /// an equals sign, a quote, a line break or another control character).
    static func shown(_ name: String) -> String {
        name.contains { ",=\"".contains($0) || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } }
            ? name.debugDescription : name
    }

    static func load(_ d: DataConfig) throws -> (Dataset, Dataset?) {
        do {
            return try loadAsConfigured(d)
        } catch let error as DataError {
            throw error.namingKinds(of: d)
        }
    }

    private static func loadAsConfigured(_ d: DataConfig) throws -> (Dataset, Dataset?) {
        switch d.format {
        case .synthetic:
            let noise = d.noise ?? (d.generator == .blobs ? 1 : (d.generator == .linear ? 0.1 : 0.05))
            let generator = SyntheticData(kind: d.generator, features: d.features ?? 20, classes: d.classes, noise: noise, seed: d.seed)
            let (train, test) = generator.generate(trainSamples: d.samples, testSamples: d.testSamples)
            return (train, d.testSamples > 0 ? test : nil)
        case .csv:
            let read = { (path: String) throws in try CSVReader.read(path: path, hasHeader: d.header, labelColumn: d.labelColumn, delimiter: d.csvDelimiter) }
            return (try read(d.train!), try d.test.map(read))
        case .libsvm:
            // Without data.features, both splits take the wider one's width: a split may omit the last feature.
            var train = try LIBSVMReader.read(path: d.train!, featureCount: d.features)
            var test = try d.test.map { try LIBSVMReader.read(path: $0, featureCount: d.features) }
            if d.features == nil, let t = test, t.featureCount != train.featureCount {
                let width = max(t.featureCount, train.featureCount)
                train = try LIBSVMReader.read(path: d.train!, featureCount: width)
                test = try LIBSVMReader.read(path: d.test!, featureCount: width)
            }
            return (train, test)
        case .idx, .npy:
            return (try readArrays(d, features: d.train!, labels: d.trainLabels!), try d.test.map { try readArrays(d, features: $0, labels: d.testLabels!) })
        }
    }

    /// The samples of an IDX or NPY features file and its labels file; with `only`, just those.
    static func readArrays(_ d: DataConfig, features: String, labels: String, only selection: RowSelection? = nil) throws(DataError) -> Dataset {
        let read = { (path: String) throws(DataError) in
            d.format == .idx ? try IDXReader.read(path: path, only: selection) : try NPYReader.read(path: path, only: selection)
        }
        return try Dataset(features: read(features), labels: read(labels), featuresPath: features, labelsPath: labels)
    }

    /// Optimizer hyperparameters from the config.
    public var optimizerSettings: OptimizerSettings {
        let o = config.optimizer
        return OptimizerSettings(kind: o.kind, momentum: o.momentum, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon, rho: o.rho,
                                 initialAccumulator: o.initialAccumulator, weightDecay: o.weightDecay, l1: o.l1, l2: o.l2)
    }

    /// Steps in one epoch for a worker holding `rows` samples.
    public func stepsPerEpoch(rows: Int) -> Int {
        let b = config.train.batchSize
        return config.train.dropLast ? rows / b : (rows + b - 1) / b
    }

    /// The learning-rate schedule; a cosine schedule spans the whole run of `totalSteps`.
    public func schedule(totalSteps: Int) -> LearningRateSchedule {
        let o = config.optimizer
        return LearningRateSchedule(base: o.lr, kind: o.schedule, gamma: o.gamma, stepSize: o.stepSize, decaySteps: o.decaySteps,
                                    totalSteps: max(totalSteps - o.warmupSteps, 1), minimum: o.minLr, warmupSteps: o.warmupSteps)
    }

    /// "mlp 64-128-10 relu" or "softmax 64-10".
    public var modelDescription: String {
        let sizes = spec.layerSizes.map(String.init).joined(separator: "-")
        return "\(config.model.kind.rawValue) \(sizes)" + (spec.hiddenSizes.isEmpty ? "" : " \(spec.activation.rawValue)")
    }

    /// Each worker's batch when a global batch of `global` is split among `workers`, as `pstrain sweep` does.
    public static func workerBatch(splitting global: Int, among workers: Int) -> Int { max(1, global / workers) }

    /// Refuses more workers than training rows: the shards of the ones past the last row would be empty. With
    /// `train.drop_last`, refuses a batch larger than the smallest shard too: its worker (or, with one, the single
    /// process) would have no whole batch, and train no step at all. With `splittingGlobalBatch`, `train.batch_size`
    /// is the global batch, split among the workers, and is spoken of as such.
    public func checkShards(workers: Int, splittingGlobalBatch split: Bool = false) throws(ConfigError) {
        if workers > train.rows {
            throw ConfigError(key: "cluster.workers", message: "\(workers) workers for the \(train.rows) training rows of \(train.source): "
                                  + "\(workers - train.rows) of them would have no data", hint: "use at most \(train.rows) workers")
        }
        let (smallest, batch) = shardAndBatch(workers: workers, splittingGlobalBatch: split)
        guard config.train.dropLast, batch > smallest else { return }
        if split && workers > 1 {
            throw ConfigError(key: "train.batch_size", message: "\(config.train.batchSize) split among \(workers) workers is \(batch) each: with "
                              + "train.drop_last: true that leaves no whole batch, and so no step, in the smallest shard, \(smallest) of the "
                              + "\(train.rows) training rows of \(train.source)",
                              hint: "use a train.batch_size (the global batch) of at most \(smallest * workers), or train.drop_last: false")
        }
        let rows = workers == 1 ? "the \(train.rows) training rows of \(train.source)"
            : "the smallest of \(workers) workers' shards: \(smallest) of the \(train.rows) training rows of \(train.source)"
        throw ConfigError(key: "train.batch_size", message: "\(batch) with train.drop_last: true leaves no whole batch, and so no step, in \(rows)",
                          hint: "use train.batch_size of at most \(smallest), or train.drop_last: false")
    }

    /// Without `train.drop_last`, a batch larger than the smallest of `workers` shards is allowed but is not what it
    /// says: that shard's worker (or, with one, the single process) steps with the whole shard, a smaller batch.
    /// Says so, for the command to show before it starts; nil when every shard holds a whole batch.
    /// `splittingGlobalBatch` as for `checkShards`.
    public func batchLargerThanShardNote(workers: Int, splittingGlobalBatch split: Bool = false) -> String? {
        let (smallest, batch) = shardAndBatch(workers: workers, splittingGlobalBatch: split)
        guard !config.train.dropLast, batch > smallest else { return nil }
        let name = split && workers > 1 ? "a batch of \(batch) each (train.batch_size \(config.train.batchSize) split among \(workers))"
            : "train.batch_size \(batch)"
        if workers == 1 {
            return "\(name) is more than the \(train.rows) training rows of \(train.source): every step takes all \(train.rows)"
        }
        return "\(name) is more than the smallest of \(workers) workers' shards (\(smallest) of the \(train.rows) training rows): "
            + "its worker's every step takes its whole shard, a batch of \(smallest)"
    }

    /// The rows of the smallest of `workers` shards, and each worker's batch.
    private func shardAndBatch(workers: Int, splittingGlobalBatch split: Bool) -> (smallest: Int, batch: Int) {
        // Both shard modes give every worker at least rows / workers rows (rounded down).
        (train.rows / workers, split ? Self.workerBatch(splitting: config.train.batchSize, among: workers) : config.train.batchSize)
    }

    /// Worker `rank`'s shard of the training set, out of `workers`, as a data set of its own (its rows in shard
    /// order), for a worker that reads only its shard from then on. A worker's run (`readsShardAlone`) reads those
    /// rows, and no others, from the training file, and scales and labels them as `facts` say. Otherwise it lets go
    /// of the rest: `train` keeps its widths and source but no rows, and `test` becomes nil. The test set goes before
    /// the shard is copied, so that the copy takes no more memory at its peak than the test set did whenever the
    /// shard is no larger.
    public mutating func takeShard(rank: Int, workers: Int) throws(DataError) -> Dataset {
        test = nil
        guard !readsShardAlone else { return try readShard(rows: shardRows(rank: rank, workers: workers)) }
        let shard = train.selecting(rows: shardRows(rank: rank, workers: workers))
        train = Dataset(features: [], targets: [], featureCount: train.featureCount, targetWidth: train.targetWidth, source: train.source)
        return shard
    }

    /// Rows of worker `rank`'s shard of the training set, out of `workers`.
    public func shardRows(rank: Int, workers: Int) -> [Int] {
        Shard(rank: rank, count: workers, mode: config.data.shard).indices(total: facts.trainRows)
    }

    /// The training rows `rows` (ascending), read from the training file alone and made what the whole set's
    /// rows are made: labelled by `facts`' class names, checked, and scaled.
    private func readShard(rows: [Int]) throws(DataError) -> Dataset {
        let d = config.data, path = d.train!
        var fileRows = rows
        if let fraction = d.testFraction {
            let kept = Dataset.keptRows(fraction: fraction, of: facts.fileRows, seed: d.seed)
            fileRows = rows.map { kept[$0] }
        }
        let selection = RowSelection(rows: fileRows, fileRows: facts.fileRows)
        var shard: Dataset
        do throws(DataError) {
            switch d.format {
            case .csv:
                shard = try CSVReader.read(path: path, hasHeader: d.header, labelColumn: d.labelColumn, delimiter: d.csvDelimiter, only: selection)
            case .libsvm:
                shard = try LIBSVMReader.read(path: path, featureCount: facts.featureCount, only: selection)
            case .idx, .npy:
                shard = try Self.readArrays(d, features: path, labels: d.trainLabels!, only: selection)
            case .synthetic:
                preconditionFailure("synthetic data is generated whole")
            }
        } catch {
            throw error.namingKinds(of: d)
        }
        guard shard.featureCount == facts.featureCount else {
            throw DataError(source: path, message: "\(shard.featureCount) features a row, where the server's copy has \(facts.featureCount)",
                            hint: "every host of a job needs the very same data files")
        }
        switch (shard.classNames, facts.classNames) {
        case (nil, nil): break
        case let (read?, all?):
            if let stranger = read.first(where: { !all.contains($0) }) {
                throw DataError(source: path, message: "class '\(stranger)' is not among the server's copy's classes",
                                hint: "every host of a job needs the very same data files")
            }
            shard.useClassNames(all)
        case (nil, _?), (_?, nil):
            throw DataError(source: path, message: shard.classNames == nil ? "its labels are numbers, where the server's copy names classes"
                                : "its labels name classes, where the server's copy has numbers",
                            hint: "every host of a job needs the very same data files")
        }
        if let classes { try shard.validateClassLabels(classes: classes) }
        facts.scaler?.apply(to: &shard)
        return shard
    }

    /// The job's identifier (see `RunConfig.jobID`).
    public var jobID: UInt64 { config.jobID }
}

extension DataError {
    /// This error, when one of `d`'s files that it names shows itself to be of another kind than `d.format`, with a
    /// hint that says which: the reader's own hint assumes the format was right. A test file's hint adds that one
    /// format reads both sets, as a training file of the format given may have read fine.
    func namingKinds(of d: DataConfig) -> DataError {
        var named = [d.train, d.trainLabels].compactMap { $0 }.reduce(self) { $0.namingKind(of: $1, readAs: d.format.rawValue) }
        for path in [d.test, d.testLabels].compactMap({ $0 }) {
            let before = named
            named = named.namingKind(of: path, readAs: d.format.rawValue)
            if named != before, let hint = named.hint { named.hint = hint + "; data.format reads the training and the test files alike" }
        }
        return named
    }
}
