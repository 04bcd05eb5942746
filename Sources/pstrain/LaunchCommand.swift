import ArgumentParser
import Config
import Foundation
import Roles
import Training

/// `pstrain launch`: a whole local cluster from one command.
struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Train with a parameter server and N workers, each a process on this host.",
        discussion: """
            Starts `pstrain server` on a free loopback port and N `pstrain worker` processes, all from the same \
            resolved config, shows the server's progress, and writes the run directory: config.yaml, metrics.csv, \
            evaluation.csv, metrics.jsonl, summary.json, server.log and worker-<rank>.log. If any process fails, or \
            on Ctrl-C / SIGTERM, every process is stopped and the exit status is non-zero.
            """)

    @OptionGroup var configuration: ConfigArguments

    @Option(name: .long, help: ArgumentHelp("Worker processes (default: cluster.workers from the config).", valueName: "n"))
    var workers: Int?


    @OptionGroup var output: RunDirectoryArgument

    func run() throws {
        do {
            let resolved = try configuration.load(extra: workers.map { ["cluster.workers=\($0)"] } ?? [])
            _ = try PreparedRun(config: resolved) // fail here, once, on bad data rather than in N + 1 processes
            let directory = try RunDirectory(path: output.runDir)
            let launchConfig = directory.url.appendingPathComponent("launch.yaml")
            try ConfigLoader.yaml(resolved).write(to: launchConfig, atomically: true, encoding: .utf8)
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            let launcher = LocalLauncher(executable: executable, configPath: launchConfig.path, workers: resolved.cluster.workers,
                                         directory: directory.url, parentVariable: LaunchedChild.parentVariable, log: printError)
            let stop = StopRequest()
            let trap = SignalTrap { signal in stop.request("signal \(signal)") }
            try withExtendedLifetime(trap) { try launcher.run(stop: stop) }
            let data = try Data(contentsOf: directory.url.appendingPathComponent("summary.json"))
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            print(SummaryText.render(try decoder.decode(TrainingSummary.self, from: data), directory: directory.url.path))
        } catch {
            printError("pstrain launch: error: \(error)")
            throw ExitCode.failure
        }
    }
}
