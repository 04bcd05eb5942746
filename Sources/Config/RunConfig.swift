import Data
import Models
import Optimizers

/// Everything a training run needs, as written in a YAML file under `configs/`.
///
/// Every field has a default, so a config file states only what differs. Keys are snake_case in YAML.
public struct RunConfig: Codable, Equatable, Sendable {
    public var data = DataConfig()
    public var model = ModelConfig()
    public var optimizer = OptimizerConfig()
    public var train = TrainConfig()
    public var cluster = ClusterConfig()

    public init() {}
}

/// The file formats `data.format` accepts.
public enum DataFormat: String, Codable, Sendable, CaseIterable {
    case csv, libsvm, idx, npy, synthetic
}

/// Where samples come from and how they are prepared.
public struct DataConfig: Codable, Equatable, Sendable {
    public var format = DataFormat.synthetic
    /// Training and test files; for `idx` and `npy` these hold the features, the labels being separate files.
    public var train: String?
    public var test: String?
    public var trainLabels: String?
    public var testLabels: String?
    /// CSV: whether the first line is a header, and which column holds the label: a position from 0 (-1 is the
    /// last) or a name from the header line (which then needs no `header: true`).
    public var header = false
    public var labelColumn = CSVColumn.position(0)
    /// CSV: what separates the columns, as `CSVDelimiter(configName:)` reads it; nil is a comma. Optional so that a
    /// config without it writes no line, and keeps the job id it had before the key existed.
    public var delimiter: String?
    /// Without a test file: the fraction of the training file's rows held out as the test set, picked at random
    /// by `seed`. Optional for the same reason as `delimiter`.
    public var testFraction: Double?
    /// LIBSVM: the number of features (else the largest index seen); synthetic: the number of features.
    public var features: Int?
    public var scale = ScalingKind.none
    /// Synthetic data (`format: synthetic`).
    public var generator = SyntheticKind.blobs
    public var samples = 10_000
    public var testSamples = 2_000
    public var classes = 10
    /// Blobs: the clusters' standard deviation (default 1). Other generators: the label-flip probability (default 0.05)
    /// or, for `linear`, the standard deviation of the target noise (default 0.1).
    public var noise: Double?
    public var seed: UInt64 = 0
    /// How the training set is split among workers.
    public var shard = ShardMode.contiguous

    public init() {}

    /// What separates a CSV file's columns (validation has proved `delimiter` readable).
    public var csvDelimiter: CSVDelimiter { delimiter.flatMap(CSVDelimiter.init(configName:)) ?? .comma }

    /// The files the data is read from: the training set's, then the test set's, each followed by its labels file
    /// (`idx`, `npy`); none for synthetic data.
    public var files: [String] {
        format == .synthetic ? [] : [train, trainLabels, test, testLabels].compactMap { $0 }
    }

    /// The files a worker reads: the training set's, without the test set's.
    public var trainingFiles: [String] {
        format == .synthetic ? [] : [train, trainLabels].compactMap { $0 }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, train, test, trainLabels = "train_labels", testLabels = "test_labels", header, labelColumn = "label_column", delimiter
        case testFraction = "test_fraction"
        case features, scale, generator, samples, testSamples = "test_samples", classes, noise, seed, shard
    }
}

/// Which model `model.kind` names.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    case linear, logistic, softmax, mlp
}

/// The model's shape and initialisation.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var kind = ModelKind.mlp
    /// Hidden layer widths (MLP only).
    public var hidden = [128]
    public var activation = Activation.relu
    /// Probability of dropping a hidden unit at training time (MLP only).
    public var dropout = 0.0
    /// The number of classes; taken from the data when omitted.
    public var classes: Int?
    /// An MLP's output: `multiclass` (default), `binary` or `regression`.
    public var head: OutputHead?
    public var initializer = Initializer.xavierUniform
    /// Standard deviation (`normal`) or limit (`uniform`) of the initial weights.
    public var initScale = 0.01

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, hidden, activation, dropout, classes, head, initializer = "init", initScale = "init_scale"
    }

    /// What a model of this kind predicts.
    public var outputHead: OutputHead {
        switch kind {
        case .linear: .regression
        case .logistic: .binary
        case .softmax: .multiclass
        case .mlp: head ?? .multiclass
        }
    }
}

/// The optimizer, its regularisation and clipping, and the learning-rate schedule.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    public var kind = OptimizerKind.adam
    public var lr = 0.001
    /// Momentum and Nesterov: 0.9 when left out; RMSprop: 0, as in PyTorch. Other kinds have none.
    public var momentum: Double?
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon = 1e-8
    public var rho = 0.99
    public var initialAccumulator = 0.0
    /// Decoupled weight decay; defaults to 0.01 for `adamw`, 0 otherwise.
    public var weightDecay: Double?
    public var l1 = 0.0
    public var l2 = 0.0
    /// Clip the gradient to this global L2 norm / to this absolute value per element.
    public var clipNorm: Double?
    public var clipValue: Double?
    public var schedule = ScheduleKind.constant
    public var gamma = 0.1
    public var stepSize = 1000
    public var decaySteps = 1
    /// The floor of the cosine schedule.
    public var minLr = 0.0
    public var warmupSteps = 0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, lr, momentum, beta1, beta2, epsilon, rho, initialAccumulator = "initial_accumulator", weightDecay = "weight_decay"
        case l1, l2, clipNorm = "clip_norm", clipValue = "clip_value", schedule, gamma, stepSize = "step_size"
        case decaySteps = "decay_steps", minLr = "min_lr", warmupSteps = "warmup_steps"
    }
}

/// What the server does with a worker's gradient that holds NaN or infinity. It is never applied: one NaN would
/// poison every parameter. (`pstrain train` stops on a non-finite loss instead: there is no one else to wait for.)
public enum NaNPolicy: String, Codable, Sendable, CaseIterable {
    /// Drop that gradient and count it; the other workers' gradients of the step are applied.
    case reject
    /// Drop the whole step: nothing is applied for it.
    case skipStep = "skip_step"
    /// Stop the run with an error that names the worker and the step.
    case fail
}

/// The training loop.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var epochs = 10
    /// Samples per step (per worker, in distributed runs).
    public var batchSize = 64
    public var seed: UInt64 = 0
    public var shuffle = true
    public var dropLast = false
    /// Write a metrics row every this many steps.
    public var logEvery = 50
    /// Threads OpenBLAS may use; 1 is best when several processes share a host.
    public var blasThreads = 1
    /// Write a checkpoint every this many steps (0: not by steps) and every this many seconds (0: not by time).
    /// A run always writes one at its end and on SIGTERM.
    public var checkpointEvery = 0
    public var checkpointSeconds = 600.0
    /// How many checkpoints to keep.
    public var keepCheckpoints = 3

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize = "batch_size", seed, shuffle, dropLast = "drop_last", logEvery = "log_every", blasThreads = "blas_threads"
        case checkpointEvery = "checkpoint_every", checkpointSeconds = "checkpoint_seconds", keepCheckpoints = "keep_checkpoints"
    }
}

extension RunConfig {
    enum CodingKeys: String, CodingKey, CaseIterable { case data, model, optimizer, train, cluster }

    /// Every key a config may hold, by section, and the values each enumerated key accepts.
    static let sections: [String: [String]] = [
        "data": DataConfig.CodingKeys.allCases.map(\.stringValue),
        "model": ModelConfig.CodingKeys.allCases.map(\.stringValue),
        "optimizer": OptimizerConfig.CodingKeys.allCases.map(\.stringValue),
        "train": TrainConfig.CodingKeys.allCases.map(\.stringValue),
        "cluster": ClusterConfig.CodingKeys.allCases.map(\.stringValue),
    ]

    static let choices: [String: [String]] = [
        "data.format": DataFormat.allCases.map(\.rawValue),
        "data.scale": ScalingKind.allCases.map(\.rawValue),
        "data.generator": SyntheticKind.allCases.map(\.rawValue),
        "data.shard": ShardMode.allCases.map(\.rawValue),
        "model.kind": ModelKind.allCases.map(\.rawValue),
        "model.activation": Activation.allCases.map(\.rawValue),
        "model.head": OutputHead.allCases.map(\.rawValue),
        "model.init": Initializer.allCases.map(\.rawValue),
        "optimizer.kind": OptimizerKind.allCases.map(\.rawValue),
        "optimizer.schedule": ScheduleKind.allCases.map(\.rawValue),
        "cluster.mode": ConsistencyMode.allCases.map(\.rawValue),
        "cluster.on_worker_failure": WorkerFailurePolicy.allCases.map(\.rawValue),
        "cluster.nan_policy": NaNPolicy.allCases.map(\.rawValue),
        "cluster.compression": GradientCompression.allCases.map(\.rawValue),
    ]
}

extension RunConfig {
    /// An identifier of the job: every process started from the same resolved config computes the same one,
    /// so a worker started with another config is refused rather than mixed in. FNV-1a of the config's YAML,
    /// leaving out the compression settings, which the server decides and tells each worker in its welcome, and
    /// `step_timeout` and `shared_memory`, each process's own.
    public var jobID: UInt64 {
        var identifying = self
        // Written as the value the optimizer uses: a config that leaves momentum out keeps the id it had when the
        // key's default, 0.9, was written out for every kind.
        identifying.optimizer.momentum = OptimizerSettings.momentum(identifying.optimizer.momentum, of: optimizer.kind)
        identifying.cluster.compression = ClusterConfig().compression
        identifying.cluster.topkFraction = ClusterConfig().topkFraction
        // Left out as a line, not only reset: the ids of runs from before the key existed, which their checkpoints
        // record, stay what they were.
        let text = ConfigLoader.everyKeyYAML(identifying).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { line in !["step_timeout:", "shared_memory:"].contains { line.trimmingCharacters(in: .whitespaces).hasPrefix($0) } }.joined(separator: "\n")
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }
}
