import Config
import Foundation

/// A run directory problem: which path and what to do.
public struct RunDirectoryError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var hint: String?

    public init(path: String, message: String, hint: String? = nil) {
        self.path = path
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(path): \(message)" + (hint.map { "\n  hint: \($0)" } ?? "") }
}

/// The folder a run writes into: `config.yaml`, `metrics.csv`, `evaluation.csv`, `metrics.jsonl`, `summary.json`.
public struct RunDirectory: Sendable {
    public let url: URL

    /// Creates `path`, or a new `runs/<date>-<time>` when nil (see `makeNew`). An existing run there is never
    /// overwritten.
    public init(path: String?) throws {
        guard let chosen = path else {
            url = try Self.makeNew(named: Self.timestamp(), in: URL(fileURLWithPath: "runs"))
            return
        }
        url = URL(fileURLWithPath: chosen)
        let config = url.appendingPathComponent("config.yaml").path
        if FileManager.default.fileExists(atPath: config) {
            throw RunDirectoryError(path: chosen, message: "already holds a run (config.yaml exists)",
                                    hint: "choose another --run-dir, or remove the old run first")
        }
        try Self.create(url, path: chosen)
    }

    /// Makes the directory `name` in `parent` (made when missing), or `name-2`, `name-3`... when that exists: runs
    /// named after the second they start at may start within the same one, from a script or side by side. `mkdir`
    /// fails on an existing directory, so two processes never both take one name.
    public static func makeNew(named name: String, in parent: URL) throws -> URL {
        try create(parent, path: parent.path)
        for attempt in 1 ... 1000 {
            let candidate = parent.appendingPathComponent(attempt == 1 ? name : "\(name)-\(attempt)")
            if mkdir(candidate.path, 0o777) == 0 { return candidate }
            guard errno == EEXIST else {
                throw RunDirectoryError(path: candidate.path, message: "cannot create the run directory: \(String(cString: strerror(errno)))")
            }
        }
        throw RunDirectoryError(path: parent.appendingPathComponent(name).path, message: "exists, and so do 999 variants of it (-2 to -1000)",
                                hint: "give the run a directory with --run-dir")
    }

    /// A folder that may already hold a run, for a process that writes nothing into it (a server shard other than
    /// 0, which may share shard 0's run directory): created when missing.
    public init(sharing path: String) throws {
        url = URL(fileURLWithPath: path)
        try Self.create(url, path: path)
    }

    private static func create(_ url: URL, path: String) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw RunDirectoryError(path: path, message: "cannot create the run directory: \(error.localizedDescription)")
        }
    }

    /// An existing run, to continue: it must hold the `config.yaml` that run was started with.
    public init(resuming path: String) throws {
        url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("config.yaml").path) else {
            throw RunDirectoryError(path: path, message: "is not a run directory (no config.yaml)",
                                    hint: "--resume takes the directory a `pstrain train`, `server` or `launch` run wrote, e.g. runs/20261123-163012")
        }
    }

    /// "20261123-163012", in UTC.
    public static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    /// The endpoint a server of this run bound, so a restarted server binds it again and its workers find it.
    public var recordedEndpoint: String? {
        (try? String(contentsOf: url.appendingPathComponent("endpoint"), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func recordEndpoint(_ endpoint: String) throws {
        try (endpoint + "\n").write(to: url.appendingPathComponent("endpoint"), atomically: true, encoding: .utf8)
    }

    /// Writes the resolved config, every key it reads with defaults spelled out, so the run can be repeated exactly.
    public func writeConfig(_ config: RunConfig) throws {
        try ConfigLoader.yaml(config).write(to: url.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
    }

    /// Writes `summary.json` (sorted keys, pretty-printed).
    public func writeSummary(_ summary: TrainingSummary) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(summary).write(to: url.appendingPathComponent("summary.json"), options: .atomic)
    }

    /// The `summary.json` the run wrote.
    public func readSummary() throws -> TrainingSummary {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(TrainingSummary.self, from: Data(contentsOf: url.appendingPathComponent("summary.json")))
    }

    /// The summary of the run when it completed at `step`: its final checkpoint's step, so nothing is left to do.
    /// Nil when it did not complete, or went on after that summary (resumed and stopped again).
    public func completedSummary(atStep step: Int) -> TrainingSummary? {
        guard let summary = try? readSummary(), summary.status == "completed", summary.steps == step else { return nil }
        return summary
    }
}

/// A worker the server lost (silent for longer than the heartbeat timeout) during a distributed run.
public struct LostWorker: Codable, Sendable, Equatable {
    public var rank: Int
    /// The server's version when the worker was declared lost, and when a worker of its rank came back.
    public var lostAtStep: Int
    public var rejoinedAtStep: Int?
    /// The worker's steps that were never done: its shard's batches skipped while it was gone.
    public var skippedSteps: Int

    public init(rank: Int, lostAtStep: Int, rejoinedAtStep: Int? = nil, skippedSteps: Int = 0) {
        self.rank = rank
        self.lostAtStep = lostAtStep
        self.rejoinedAtStep = rejoinedAtStep
        self.skippedSteps = skippedSteps
    }
}

/// The outcome of a run, as written to `summary.json`.
public struct TrainingSummary: Codable, Sendable, Equatable {
    public var status: String
    public var model: String
    public var parameters: Int
    public var trainLoss: Double
    public var trainAccuracy: Double?
    public var testLoss: Double?
    public var testAccuracy: Double?
    public var testMse: Double?
    public var testMae: Double?
    public var steps: Int
    public var epochs: Int
    public var samples: Int
    /// Wall time of the whole run, and of the training steps alone (no evaluation, no loading).
    public var wallSeconds: Double
    public var trainSeconds: Double
    /// Training samples processed per second of `trainSeconds`.
    public var samplesPerSecond: Double
    public var finalLearningRate: Double
    /// Distributed runs only: the workers, the consistency mode, the server's traffic, the largest
    /// staleness (versions) of an applied gradient, and the messages rejected.
    public var workers: Int?
    /// Sharded runs: the number of server shards. The traffic, rejects and staleness are then all shards' together.
    public var servers: Int?
    public var mode: String?
    public var bytesSent: Int?
    public var bytesReceived: Int?
    public var maxStaleness: Int?
    public var rejectedMessages: Int?
    /// Distributed runs: each time a worker was lost, and what its shard missed.
    public var lostWorkers: [LostWorker]?
    /// A resumed server: the checkpoint's step, and how many steps done before the restart were done again.
    public var resumedFromStep: Int?
    public var stepsRedone: Int?
    /// The run's TensorBoard event file, in the run directory (`tensorboard --logdir` on the run shows it).
    public var eventFile: String?
    /// With labels that name classes: the name of each class index the model predicts.
    public var classNames: [String]?

    public init(status: String, model: String, parameters: Int, trainLoss: Double, trainAccuracy: Double?, testLoss: Double?,
                testAccuracy: Double?, testMse: Double?, testMae: Double?, steps: Int, epochs: Int, samples: Int,
                wallSeconds: Double, trainSeconds: Double, samplesPerSecond: Double, finalLearningRate: Double,
                workers: Int? = nil, mode: String? = nil, bytesSent: Int? = nil, bytesReceived: Int? = nil,
                maxStaleness: Int? = nil, rejectedMessages: Int? = nil) {
        self.status = status
        self.model = model
        self.parameters = parameters
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.testMse = testMse
        self.testMae = testMae
        self.steps = steps
        self.epochs = epochs
        self.samples = samples
        self.wallSeconds = wallSeconds
        self.trainSeconds = trainSeconds
        self.samplesPerSecond = samplesPerSecond
        self.finalLearningRate = finalLearningRate
        self.workers = workers
        self.mode = mode
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.maxStaleness = maxStaleness
        self.rejectedMessages = rejectedMessages
    }
}
