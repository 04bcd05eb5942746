import Glibc
import ArgumentParser
import Config
import Foundation
import Roles
import Training
import ZeroMQ
import ZMQTransport

/// `pstrain server`: the parameter server of a distributed run.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the parameter server: hold the parameters, apply the workers' gradients.",
        discussion: """
            Binds the address, prints "listening on <endpoint>" as its first line of standard output, waits for \
            cluster.workers workers, trains per cluster.mode, evaluates at each epoch's end, and writes the run \
            directory (as pstrain train does, with workers, mode, bytes_sent and max_staleness in summary.json). \
            SIGINT or SIGTERM stops it. Usually started by `pstrain launch`.
            """)

    @OptionGroup var configuration: ConfigArguments

    @Option(name: .long, help: ArgumentHelp("Address to serve; * picks a free port.", valueName: "endpoint"))
    var bind = "tcp://127.0.0.1:*"

    @Flag(name: .long, help: "Allow binding to a non-loopback address without encryption (CurveZMQ is not built yet).")
    var insecure = false

    @OptionGroup var output: RunDirectoryArgument

    @Flag(name: .long, help: "Print only the final summary.")
    var quiet = false

    func run() throws {
        LaunchedChild.followParent()
        do {
            try Endpoint.checkBinding(bind, insecure: insecure)
            let resolved = try configuration.load()
            let prepared = try PreparedRun(config: resolved)
            let directory = try RunDirectory(path: output.runDir)
            let context = try ZMQContext()
            let transport = try ZMQServerTransport(context: context, bind: bind, maxMessageBytes: resolved.cluster.maxMessageMb << 20)
            defer { transport.close() }
            print("listening on \(transport.endpoint)")
            fflush(nil) // the launcher reads this line through a pipe: send it now
            let server = ParameterServer(run: prepared, transport: transport, directory: directory, quiet: quiet, log: printError)
            let stop = server.stop
            let trap = SignalTrap { signal in stop.request("signal \(signal)") }
            let summary = try withExtendedLifetime(trap) { try server.serve() }
            print(SummaryText.render(summary, directory: directory.url.path))
        } catch {
            printError("pstrain server: error: \(error)")
            throw ExitCode.failure
        }
    }
}

/// `pstrain worker`: computes gradients on its shard for a server.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: read this rank's shard, compute gradients, push them to the server.",
        discussion: """
            Start it with the same config and overrides as the server: a worker whose config differs is refused. \
            Usually started by `pstrain launch`.
            """)

    @OptionGroup var configuration: ConfigArguments

    @Option(name: .long, help: ArgumentHelp("The server's endpoint, as it printed it.", valueName: "endpoint"))
    var connect: String

    @Option(name: .long, help: ArgumentHelp("This worker's rank, 0 to cluster.workers - 1 (default: the server picks).", valueName: "n"))
    var rank: Int?

    func run() throws {
        LaunchedChild.followParent()
        do {
            let resolved = try configuration.load()
            let prepared = try PreparedRun(config: resolved)
            let context = try ZMQContext()
            let transport = try ZMQClientTransport(context: context, connect: connect, maxMessageBytes: resolved.cluster.maxMessageMb << 20)
            defer { transport.close() }
            let trap = SignalTrap { _ in Glibc.exit(143) }
            let report = try withExtendedLifetime(trap) { try Worker(run: prepared, transport: transport, rank: rank ?? -1, log: printError).work() }
            print("worker \(report.rank): \(report.steps) steps, \(report.samples) samples, sent \(report.traffic.bytesSent) bytes")
        } catch {
            printError("pstrain worker: error: \(error)")
            throw ExitCode.failure
        }
    }
}

/// Rules for the addresses roles bind to.
enum Endpoint {
    /// Binding off loopback is refused unless `insecure`, because traffic is not yet encrypted.
    static func checkBinding(_ endpoint: String, insecure: Bool) throws {
        guard endpoint.hasPrefix("tcp://") else { return }
        let host = endpoint.dropFirst("tcp://".count).split(separator: ":").dropLast().joined(separator: ":")
        let loopback = host.hasPrefix("127.") || host == "localhost" || host == "[::1]"
        if loopback { return }
        if insecure {
            printError("pstrain: WARNING: serving \(endpoint) without encryption or authentication (--insecure)")
            return
        }
        throw ValidationError("""
            refusing to bind \(endpoint): off loopback, traffic would be neither encrypted nor authenticated.
              hint: pass --insecure to accept that on a trusted network, or bind tcp://127.0.0.1:*
            """)
    }
}
