import Config
import Foundation
import Training

/// One run of a sweep: its place in the grid, what it was told, and what it reached.
public struct SweepRun: Codable, Sendable {
    public var name: String
    public var mode: String
    public var workers: Int
    public var perWorkerBatch: Int
    public var staleness: Int?
    public var directory: String
    public var summary: TrainingSummary
    /// (step, wall_seconds, loss) from metrics.csv.
    public var curve: [[Double]]
    public var testAccuracyChange: Double?
    public var testLossChange: Double?
    public var withinTolerance: Bool
    public var note: String?
}

/// Tolerances a sweep checks each run against, relative to the reference (the 1-worker run).
public struct SweepTolerance: Sendable {
    /// The most test accuracy may fall below the reference's (absolute, e.g. 0.01 for one point).
    public var accuracyDrop: Double?
    /// The most test loss may exceed the reference's, relative (0.1 for 10 %).
    public var lossIncrease: Double?
    public init(accuracyDrop: Double?, lossIncrease: Double?) {
        self.accuracyDrop = accuracyDrop
        self.lossIncrease = lossIncrease
    }
}

/// Runs a config across worker counts and consistency modes, as local clusters, and compares the results.
public final class Sweep {
    let base: RunConfig
    let workerCounts: [Int]
    let modes: [ConsistencyMode]
    /// True: `train.batch_size` is the global batch, split among the workers (a fair comparison).
    let splitGlobalBatch: Bool
    let tolerance: SweepTolerance
    let directory: URL
    let executable: URL
    let parentVariable: String
    let log: @Sendable (String) -> Void

    public init(base: RunConfig, workerCounts: [Int], modes: [ConsistencyMode], splitGlobalBatch: Bool, tolerance: SweepTolerance,
                directory: URL, executable: URL, parentVariable: String, log: @escaping @Sendable (String) -> Void) {
        self.base = base
        self.workerCounts = workerCounts
        self.modes = modes
        self.splitGlobalBatch = splitGlobalBatch
        self.tolerance = tolerance
        self.directory = directory
        self.executable = executable
        self.parentVariable = parentVariable
        self.log = log
    }

    /// The grid in run order: one 1-worker reference (the modes agree with one worker), then every mode
    /// for each larger worker count.
    var grid: [(ConsistencyMode, Int)] {
        let counts = workerCounts.sorted()
        var runs: [(ConsistencyMode, Int)] = []
        for n in counts {
            if n == 1 { runs.append((.sync, 1)) } else { runs += modes.map { ($0, n) } }
        }
        return runs
    }

    /// Runs every combination; returns the runs with their comparison to the reference.
    public func run(stop: StopRequest) throws -> [SweepRun] {
        var runs: [SweepRun] = []
        for (index, (mode, workers)) in grid.enumerated() {
            var config = base
            config.cluster.mode = mode
            config.cluster.workers = workers
            var note: String? = nil
            if splitGlobalBatch {
                config.train.batchSize = PreparedRun.workerBatch(splitting: base.train.batchSize, among: workers)
                if base.train.batchSize % workers != 0 {
                    note = "global batch \(base.train.batchSize) does not split evenly: \(config.train.batchSize) per worker"
                }
            }
            if mode == .bounded && config.cluster.staleness < workers - 1 {
                config.cluster.staleness = workers - 1
                note = [note, "staleness raised to \(workers - 1), the least that lets \(workers) workers all proceed"].compactMap { $0 }.joined(separator: "; ")
            }
            try config.validate()
            let name = "\(mode.rawValue)-\(workers)w"
            let runDirectory = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            let configPath = runDirectory.appendingPathComponent("launch.yaml")
            try ConfigLoader.yaml(config).write(to: configPath, atomically: true, encoding: .utf8)
            log("sweep: run \(index + 1)/\(grid.count): \(name), \(config.train.batchSize) per worker")
            let launcher = ClusterLauncher(placement: LocalPlacement(executable: executable), configPath: configPath.path, workers: workers, directory: runDirectory,
                                         parentVariable: parentVariable, log: { _ in })
            try launcher.run(stop: stop)
            let summary = try RunDirectory(sharing: runDirectory.path).readSummary()
            runs.append(SweepRun(name: name, mode: mode.rawValue, workers: workers, perWorkerBatch: config.train.batchSize,
                                 staleness: mode == .bounded ? config.cluster.staleness : nil, directory: name, summary: summary,
                                 curve: Self.curve(runDirectory.appendingPathComponent("metrics.csv")), withinTolerance: true, note: note))
            log("sweep: \(name): " + SummaryText.line(summary))
        }
        return compare(runs)
    }

    /// Fills in each run's difference from the reference (the first, fewest-worker run) and its tolerance check.
    func compare(_ runs: [SweepRun]) -> [SweepRun] {
        guard let reference = runs.first else { return runs }
        return runs.map { run in
            var run = run
            if let accuracy = run.summary.testAccuracy, let referenceAccuracy = reference.summary.testAccuracy {
                run.testAccuracyChange = accuracy - referenceAccuracy
                if let drop = tolerance.accuracyDrop, referenceAccuracy - accuracy > drop { run.withinTolerance = false }
            }
            if let loss = run.summary.testLoss, let referenceLoss = reference.summary.testLoss {
                run.testLossChange = loss - referenceLoss
                if let increase = tolerance.lossIncrease, loss > referenceLoss * (1 + increase) { run.withinTolerance = false }
            }
            return run
        }
    }

    /// (step, wall_seconds, loss) rows of a run's metrics.csv.
    static func curve(_ url: URL) -> [[Double]] {
        let lines = ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n")
        guard let header = lines.first?.split(separator: ",").map(String.init),
              let step = header.firstIndex(of: "step"), let wall = header.firstIndex(of: "wall_seconds"), let loss = header.firstIndex(of: "loss")
        else { return [] }
        return lines.dropFirst().compactMap { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard let s = Double(cells[step]), let w = Double(cells[wall]), let l = Double(cells[loss]) else { return nil }
            return [s, w, l]
        }
    }
}
