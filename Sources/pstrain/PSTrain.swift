import ArgumentParser

@main
struct PSTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pstrain",
        abstract: "Data-parallel training of linear models and MLPs with a parameter server.",
        discussion: """
            Configs are YAML files (see configs/); any key can be overridden on the command line as \
            section.key=value, for example optimizer.lr=0.01 or model.hidden=[256,128].

            Examples:
              pstrain launch --config configs/quickstart.yaml --workers 4
              pstrain train --config configs/quickstart.yaml
              pstrain train --config configs/digits-mlp.yaml train.epochs=5
              pstrain train --config configs/digits-softmax.yaml --run-dir runs/s1
            """,
        subcommands: [Train.self, LaunchCommand.self, SweepCommand.self, ServerCommand.self, WorkerCommand.self, StatusCommand.self,
                      KeygenCommand.self, EnvCommand.self])

    /// Takes SIGINT and SIGTERM over before any thread starts (see `StopSignals`), then runs the command.
    static func main() {
        refuseCPUWithoutWhatThisBuildNeeds()
        StopSignals.takeOver()
        main(nil)
    }
}
