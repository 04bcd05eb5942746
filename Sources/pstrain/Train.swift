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
              config.yaml     the resolved config, every default written out
              metrics.csv     loss, learning rate, gradient norm and samples/s,
                              every train.log_every steps
              evaluation.csv  test loss and accuracy (or MSE, MAE) per epoch
              metrics.jsonl   both of the above as JSON lines
              summary.json    final losses and accuracy, steps, wall time, speed

            Without --config, pstrain trains its defaults: an MLP on synthetic Gaussian blobs.
            """)

    @OptionGroup var configuration: ConfigArguments

    @OptionGroup var output: RunDirectoryArgument

    @Flag(name: .long, help: "Print only the final summary.")
    var quiet = false

    func run() throws {
        do {
            let resolved = try configuration.load()
            let prepared = try PreparedRun(config: resolved)
            let directory = try RunDirectory(path: output.runDir)
            let trainer = LocalTrainer(run: prepared, directory: directory, quiet: quiet)
            if !quiet {
                let test = prepared.test.map { ", \($0.rows) test" } ?? ""
                printError("pstrain: \(trainer.describeModel()) (\(prepared.spec.layout.count) parameters), "
                           + "\(prepared.train.rows) training samples\(test), run directory \(directory.url.path)")
            }
            let summary = try trainer.train()
            print(SummaryText.render(summary, directory: directory.url.path))
        } catch {
            printError("pstrain: error: \(error)")
            throw ExitCode.failure
        }
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
