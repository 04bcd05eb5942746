import ArgumentParser
import Config
import Foundation
import Roles
import Training

/// `pstrain sweep`: does training converge the same with more workers, in each consistency mode?
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train a config with several worker counts and consistency modes, and compare the results.",
        discussion: """
            Runs `pstrain launch` for a 1-worker reference and for every mode at every larger worker count, then \
            writes report.md (final losses, accuracy, steps, wall time, samples/s, staleness, and the change from \
            the reference), sweep.json, loss-by-step.svg and loss-by-time.svg into the sweep directory, one \
            subdirectory per run. By default train.batch_size is the global batch, split among the workers, so \
            every run sees the same number of samples per step. Exits non-zero when a run misses a tolerance.

            Example:
              pstrain sweep --config configs/digits-softmax.yaml --workers 1,2,4 \\
                  --modes sync,async --max-accuracy-drop 0.01
            """)

    @OptionGroup var configuration: ConfigArguments

    @Option(name: .long, help: ArgumentHelp("Worker counts, comma-separated.", valueName: "list"))
    var workers = "1,2,4,8"

    @Option(name: .long, help: ArgumentHelp("Consistency modes, comma-separated: sync, async, bounded.", valueName: "list"))
    var modes = "sync,async"

    @Flag(name: .long, help: "Treat train.batch_size as each worker's batch instead of the global one.")
    var perWorkerBatch = false

    @Option(name: .long, help: ArgumentHelp("Fail when a run's test accuracy is more than this below the reference's (0.01 = one point).", valueName: "fraction"))
    var maxAccuracyDrop: Double?

    @Option(name: .long, help: ArgumentHelp("Fail when a run's test loss exceeds the reference's by more than this fraction.", valueName: "fraction"))
    var maxLossIncrease: Double?

    @Option(name: .long, help: ArgumentHelp("Where to write the sweep (default: runs/sweep-<date>-<time> in UTC, or with -2, -3... when sweeps start within the same second).", valueName: "dir"))
    var runDir: String?

    func validate() throws {
        if let drop = maxAccuracyDrop {
            guard drop >= 0 else { throw ValidationError("--max-accuracy-drop \(drop): must be at least 0 (0.01 = one point)") }
            guard drop < 1 else {
                throw ValidationError("--max-accuracy-drop \(drop): a fraction of accuracy, 0.01 = one point, so every run would pass; "
                                      + "for \(String(format: "%g", drop)) points give \(String(format: "%g", drop / 100))")
            }
        }
        if let increase = maxLossIncrease, increase < 0 {
            throw ValidationError("--max-loss-increase \(increase): must be at least 0 (0.05 = 5 % above the reference's loss)")
        }
    }

    func run() throws {
        do {
            let counts = workers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw ValidationError("--workers takes positive whole numbers separated by commas, e.g. 1,2,4,8; got '\(workers)'")
            }
            let modeList = try modes.split(separator: ",").map { text in
                guard let mode = ConsistencyMode(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--modes: '\(text)' is not one of sync, async, bounded")
                }
                return mode
            }
            try configuration.refuseOverride(of: "cluster.workers", setPerRunBy: "--workers")
            try configuration.refuseOverride(of: "cluster.mode", setPerRunBy: "--modes")
            let base = try configuration.load()
            let prepared = try PreparedRun(config: base)
            for workers in Set(counts.map { $0! }).sorted() {
                try prepared.checkShards(workers: workers, splittingGlobalBatch: !perWorkerBatch)
                if let note = prepared.batchLargerThanShardNote(workers: workers, splittingGlobalBatch: !perWorkerBatch) {
                    printError("pstrain sweep: note: with \(workers) worker\(workers == 1 ? "" : "s"), " + note)
                }
            }
            let directory = try runDir.map { URL(fileURLWithPath: $0) }
                ?? RunDirectory.makeNew(named: "sweep-" + RunDirectory.timestamp(), in: URL(fileURLWithPath: "runs"))
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("report.md").path) {
                throw ValidationError("\(directory.path) already holds a sweep (report.md exists); choose another --run-dir")
            }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let tolerance = SweepTolerance(accuracyDrop: maxAccuracyDrop, lossIncrease: maxLossIncrease)
            let sweep = Sweep(base: base, workerCounts: counts.map { $0! }, modes: modeList, splitGlobalBatch: !perWorkerBatch,
                              tolerance: tolerance, directory: directory,
                              executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(),
                              parentVariable: LaunchedChild.parentVariable, log: printError)
            let stop = StopRequest()
            let trap = SignalTrap { signal in stop.request("signal \(signal)") }
            let runs = try withExtendedLifetime(trap) { try sweep.run(stop: stop) }
            try SweepReport.write(runs, to: directory, title: configuration.config ?? "defaults", tolerance: tolerance)
            print("report: \(directory.path)/report.md")
            let missed = runs.filter { !$0.withinTolerance }
            if !missed.isEmpty {
                printError("pstrain sweep: outside tolerance: " + missed.map(\.name).joined(separator: ", "))
                throw ExitCode.failure
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("pstrain sweep: error: \(configuration.locatingData(error))")
            throw ExitCode.failure
        }
    }
}
