import ArgumentParser
import Config
import Foundation
import Training

/// `pstrain train`: single-process training, writing a run directory.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model in this process.",
        discussion: """
            Reads the config, trains for train.epochs epochs, evaluates on the test set after each epoch, and \
            writes the run directory:
              config.yaml     the resolved config: every key it reads, defaults written out
              metrics.csv     loss, learning rate, gradient norm and samples/s,
                              every train.log_every steps
              evaluation.csv  test loss and accuracy (or MSE, MAE) per epoch
              metrics.jsonl   both of the above as JSON lines
              summary.json    final losses and accuracy, steps, wall time, speed
              checkpoints/    safetensors checkpoints (parameters, optimizer state,
                              position) and `latest`; the last one is the model

            Checkpoints are written every train.checkpoint_every steps or \
            train.checkpoint_seconds seconds, at the end, and on SIGINT/SIGTERM \
            (which then stops the run with status 0). `--resume DIR` continues \
            such a run from its latest checkpoint, exactly as if never stopped.

            Without --config, pstrain trains its defaults: an MLP on synthetic Gaussian blobs.
            """)

    @OptionGroup var configuration: ConfigArguments

    @OptionGroup var output: RunDirectoryArgument

    @Option(name: .long, help: ArgumentHelp("Continue the run in this directory from its latest checkpoint, with its own config.", valueName: "dir"))
    var resume: String?

    @Flag(name: .long, help: "Print only the final summary.")
    var quiet = false

    func validate() throws {
        if resume != nil && (configuration.config != nil || !configuration.overrides.isEmpty || output.runDir != nil) {
            throw ValidationError("--resume continues a run with its own config.yaml, in its own directory: "
                                  + "drop --config, --run-dir and overrides (a changed config would not continue the same run)")
        }
    }

    func run() throws {
        do {
            let trainer: LocalTrainer
            let directory: RunDirectory
            let stop = StopRequest()
            if let resume {
                directory = try RunDirectory(resuming: resume)
                let prepared = try PreparedRun(config: try ConfigLoader.load(path: directory.url.appendingPathComponent("config.yaml").path, ofRunDirectory: true))
                guard let checkpoint = try LocalTrainer.latestCheckpoint(of: prepared, in: directory) else {
                    throw RunDirectoryError(path: resume, message: "has no checkpoint to resume from (checkpoints/latest is missing)")
                }
                // A server's checkpoint would continue here as one process: another batch, another number of steps.
                guard checkpoint.workerSteps.isEmpty else {
                    throw CheckpointError(path: directory.url.appendingPathComponent("checkpoints").path,
                                          message: "the checkpoint is a parameter server's, for \(checkpoint.workerSteps.count) workers",
                                          hint: "continue the run as it ran: " + Self.serverResumeCommand(for: directory.url))
                }
                if !quiet { printError("pstrain: resuming \(resume) at step \(checkpoint.step) (epoch \(checkpoint.epoch + 1))") }
                trainer = LocalTrainer(run: prepared, directory: directory, quiet: quiet, resume: checkpoint, stop: stop)
            } else {
                let prepared = try PreparedRun(config: try configuration.load())
                try prepared.checkShards(workers: 1)
                if !quiet, let note = prepared.batchLargerThanShardNote(workers: 1) { printError("pstrain: note: " + note) }
                directory = try RunDirectory(path: output.runDir)
                trainer = LocalTrainer(run: prepared, directory: directory, quiet: quiet, stop: stop)
            }
            let prepared = trainer.run
            if !quiet {
                let test = prepared.test.map { ", \($0.rows) test" } ?? ""
                printError("pstrain: \(trainer.describeModel()) (\(prepared.spec.layout.count) parameters), "
                           + "\(prepared.train.rows) training samples\(test), run directory \(directory.url.path)")
                if let names = prepared.classNamesDescription { printError("pstrain: classes named by the labels: \(names)") }
            }
            let trap = SignalTrap { signal in stop.request("signal \(signal)") }
            let summary = try withExtendedLifetime(trap) { try trainer.train() }
            print(SummaryText.render(summary, directory: directory.url.path))
        } catch {
            printError("pstrain: error: \(configuration.locatingData(error))")
            throw ExitCode.failure
        }
    }

    /// The command that resumes the parameter-server run in `run`: the launcher that started it, else its server.
    static func serverResumeCommand(for run: URL) -> String {
        let exists = { (name: String) in FileManager.default.fileExists(atPath: run.appendingPathComponent(name).path) }
        if exists(SSHLaunchRecord.fileName) { return "pstrain launch ssh --resume \(run.path)" }
        if exists("launch.yaml") { return "pstrain launch --resume \(run.path)" }
        return "pstrain server --resume \(run.path), and its workers"
    }
}

func printError(_ line: String) {
    writeToStandardError(line + "\n")
}
