import ArgumentParser
import Config
import Foundation
import Roles
import Training
import Transport
import ZeroMQ
import ZMQTransport

/// The far end of the communication benchmark, a process of its own as in a deployment: a ParameterServer or a
/// raw ZeroMQ echo. It prints the endpoint it bound as its first line and serves until its standard input closes.
struct CommunicationPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm-peer",
        abstract: "The server or echo end of `comm`, started by it.",
        shouldDisplay: false)

    enum Role: String, ExpressibleByArgument { case echo, server }

    @Option(help: "What to serve: echo or server.") var role: Role
    @Option(help: "tcp or ipc.") var transport: String
    @Option(help: "The model's parameter count (the server's config; the echo ignores it).") var parameters: Int
    @Option(help: "Run on this CPU only, with every thread started here (the benchmark's pinned placement).") var cpu: Int?

    /// The job both ends of the pstrain round trip agree on: linear regression with `parameters` weights, SGD, async.
    static func serverConfig(parameters: Int) -> RunConfig {
        var config = RunConfig()
        config.data.format = .synthetic
        config.data.generator = .linear
        config.data.features = parameters - 1
        config.data.samples = 1
        config.data.testSamples = 0
        config.model.kind = .linear
        config.optimizer.kind = .sgd
        config.optimizer.lr = 1e-9
        config.cluster.workers = 1
        config.cluster.mode = .async
        config.train.epochs = 1
        config.train.logEvery = 1_000_000
        return config
    }

    func run() throws {
        // First, so that every thread started from here on (ZeroMQ's I/O threads, the server's) inherits it.
        if let cpu { try CorePlacement.pinCallingThread(to: cpu) }
        let stop = StopRequest()
        let socketFile = "/tmp/pstrain-bench-\(getpid()).sock"
        let endpoint = transport == "ipc" ? "ipc://" + socketFile : "tcp://127.0.0.1:*"
        defer { if transport == "ipc" { unlink(socketFile) } }
        let announce: (String) -> Void = { bound in
            print(bound)
            fflush(nil)
            // The benchmark closes our standard input when it is done with us, or by exiting.
            Thread { _ = FileHandle.standardInput.readDataToEndOfFile(); stop.request("measured") }.start()
        }
        switch role {
        case .echo: try echo(endpoint: endpoint, announce: announce, stop: stop)
        case .server: try serve(endpoint: endpoint, announce: announce, stop: stop)
        }
    }

    func echo(endpoint: String, announce: (String) -> Void, stop: StopRequest) throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.bind(endpoint)
        try router.set(.receiveTimeout(milliseconds: 100))
        announce(try router.lastEndpoint)
        while stop.requested == nil {
            guard let frames = try? router.receiveMultipart() else { continue }
            _ = try? router.send(frames[0].bytes, more: true)
            // Send the received frame back as it is, without copying it.
            frames[1].withBytes { _ = try? router.send(zeroCopy: $0, owner: frames[1]) }
        }
        router.close()
    }

    func serve(endpoint: String, announce: (String) -> Void, stop: StopRequest) throws {
        let run = try PreparedRun(config: Self.serverConfig(parameters: parameters))
        let context = try ZMQContext()
        let transport = try ZMQServerTransport(context: context, bind: endpoint, maxMessageBytes: 1 << 30)
        let directory = try RunDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-bench-\(UUID().uuidString)").path)
        defer { try? FileManager.default.removeItem(at: directory.url) }
        announce(transport.endpoint)
        // It stops when the benchmark is done with it, before its job is: not a failure here.
        _ = try? ParameterServer(run: run, transport: transport, directory: directory, quiet: true, stop: stop, log: { _ in }).serve()
        transport.close()
    }
}

/// A running `comm-peer`: started from this very executable, stopped by closing its standard input.
final class PeerProcess {
    let endpoint: String
    /// The CPUs the process may run on, as the kernel lists them once it has bound its endpoint.
    let allowedCPUs: String
    private let process = Process()
    private let input = Pipe()

    init(role: CommunicationPeer.Role, transport: String, parameters: Int, cpu: Int? = nil) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["comm-peer", "--role", role.rawValue, "--transport", transport, "--parameters", "\(parameters)"]
            + (cpu.map { ["--cpu", "\($0)"] } ?? [])
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else {
                process.waitUntilExit()
                throw ValidationError("the benchmark's \(role.rawValue) process exited (status \(process.terminationStatus)) before it bound an endpoint")
            }
            line.append(chunk)
        }
        endpoint = String(decoding: line.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        allowedCPUs = CorePlacement.allowedCPUList(ofProcess: process.processIdentifier) ?? "?"
    }

    /// Asks the peer to stop and waits for it.
    func finish() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
