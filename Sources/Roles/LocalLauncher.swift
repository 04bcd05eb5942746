import Foundation
import Training

/// Why a launch failed: which process, and where its log is.
public struct LaunchError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Starts a server and N workers of this same binary as child processes on this host, streams the server's
/// progress, and stops every child when the job ends, when any child fails, or when asked to stop.
public final class LocalLauncher {
    let executable: URL
    let configPath: String
    let workers: Int
    let directory: URL
    let log: @Sendable (String) -> Void
    private var children: [(name: String, process: Process, log: URL)] = []

    /// - Parameters:
    ///   - executable: the `pstrain` binary to start (this process's own).
    ///   - parentVariable: the environment variable that tells each child the launcher's pid, so it can ask the
    ///     kernel to stop it if the launcher dies without cleaning up (SIGKILL).
    ///   - configPath: the resolved config every child is started with, so all agree on the job.
    let parentVariable: String

    public init(executable: URL, configPath: String, workers: Int, directory: URL, parentVariable: String,
                log: @escaping @Sendable (String) -> Void) {
        self.executable = executable
        self.parentVariable = parentVariable
        self.configPath = configPath
        self.workers = workers
        self.directory = directory
        self.log = log
    }

    /// Runs the job; returns when every child has exited. Throws, after stopping every child, when one fails,
    /// the server never reports its endpoint, or `stop` is requested.
    public func run(stop: StopRequest, endpointTimeout: TimeInterval = 120) throws {
        let exited = DispatchSemaphore(value: 0)
        defer { terminateAll() }
        let serverLog = directory.appendingPathComponent("server.log")
        let tee = try LineTee(file: serverLog, echo: log)
        let endpoint = EndpointLatch()
        let server = try start("server", ["server", "--config", configPath, "--run-dir", directory.path, "--bind", "tcp://127.0.0.1:*"],
                               log: serverLog, exited: exited) { process in
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            tee.follow(out.fileHandleForReading, echo: false) { line in
                if line.hasPrefix("listening on ") { endpoint.set(String(line.dropFirst("listening on ".count))) }
            }
            tee.follow(err.fileHandleForReading, echo: true) { _ in }
        }
        guard let address = endpoint.wait(timeout: endpointTimeout, while: { server.isRunning && stop.requested == nil }) else {
            throw LaunchError(message: stop.requested.map { "stopped (\($0)) before the server started" }
                              ?? "the server did not report its endpoint\(server.isRunning ? " within \(Int(endpointTimeout)) s" : "; it exited with status \(server.terminationStatus)")"
                              + "; see \(serverLog.path)")
        }
        log("pstrain launch: server at \(address); starting \(workers) workers (logs in \(directory.path))")
        for rank in 0 ..< workers {
            let logURL = directory.appendingPathComponent("worker-\(rank).log")
            _ = try start("worker \(rank)", ["worker", "--config", configPath, "--connect", address, "--rank", "\(rank)"],
                          log: logURL, exited: exited) { process in
                _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
                let handle = try? FileHandle(forWritingTo: logURL)
                process.standardOutput = handle
                process.standardError = handle
            }
        }
        while children.contains(where: { $0.process.isRunning }) {
            _ = exited.wait(timeout: .now() + 0.2)
            if let reason = stop.requested { throw LaunchError(message: "stopped (\(reason)); every process was terminated") }
            if let failed = children.first(where: { !$0.process.isRunning && $0.process.terminationStatus != 0 }) {
                throw LaunchError(message: "\(failed.name) failed with status \(failed.process.terminationStatus); "
                                  + "stopped the others. Its log: \(failed.log.path)\n" + Self.tail(of: failed.log))
            }
        }
        tee.finish()
    }

    @discardableResult
    private func start(_ name: String, _ arguments: [String], log logURL: URL, exited: DispatchSemaphore,
                       wiring: (Process) throws -> Void) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging([parentVariable: "\(getpid())"]) { $1 }
        try wiring(process)
        process.terminationHandler = { _ in exited.signal() }
        do { try process.run() } catch {
            throw LaunchError(message: "cannot start \(name) (\(executable.path)): \(error.localizedDescription)")
        }
        children.append((name, process, logURL))
        return process
    }

    /// SIGTERM to every running child, then SIGKILL to any still running after a grace period; waits for all.
    private func terminateAll(grace: TimeInterval = 5) {
        let running = children.filter { $0.process.isRunning }
        guard !running.isEmpty else { return }
        running.forEach { $0.process.terminate() }
        let deadline = Date().addingTimeInterval(grace)
        for child in running {
            while child.process.isRunning && Date() < deadline { _ = waitpid(child.process.processIdentifier, nil, WNOHANG); usleep(10_000) }
            if child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
            child.process.waitUntilExit()
        }
    }

    /// The last lines of a log, indented, for an error message.
    static func tail(of url: URL, lines: Int = 8) -> String {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).map { "  | \($0)" }.joined(separator: "\n")
    }
}

/// Holds the server's endpoint once its reader thread has seen it.
final class EndpointLatch: @unchecked Sendable {
    // @unchecked: `value` is guarded by `condition`.
    private let condition = NSCondition()
    private var value: String?

    func set(_ endpoint: String) {
        condition.withLock {
            value = endpoint
            condition.broadcast()
        }
    }

    /// Waits until set, `timeout` passes, or `keepWaiting` turns false (checked every 100 ms).
    func wait(timeout: TimeInterval, while keepWaiting: () -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        return condition.withLock {
            while value == nil && Date() < deadline && keepWaiting() {
                _ = condition.wait(until: min(deadline, Date().addingTimeInterval(0.1)))
            }
            return value
        }
    }
}

/// Copies lines from child pipes into a log file (and optionally to our standard error), each pipe on its own thread.
final class LineTee: @unchecked Sendable {
    // @unchecked: the file handle is written under `lock`; threads are only appended to before `finish`.
    private let lock = NSLock()
    private let file: FileHandle
    private let echo: @Sendable (String) -> Void
    private let readers = DispatchGroup()

    init(file url: URL, echo: @escaping @Sendable (String) -> Void) throws {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        file = try FileHandle(forWritingTo: url)
        self.echo = echo
    }

    /// Reads `handle` to its end on a thread of its own, writing each line to the log and passing it to `onLine`.
    func follow(_ handle: FileHandle, echo shouldEcho: Bool, onLine: @escaping @Sendable (String) -> Void) {
        readers.enter()
        Thread { [self] in
            defer { readers.leave() }
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex ..< newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex ... newline)
                    lock.withLock { file.write(Data((line + "\n").utf8)) }
                    if shouldEcho { echo(line) }
                    onLine(line)
                }
            }
        }.start()
    }

    /// Waits (bounded) for the readers to drain what the children wrote before they exited.
    func finish() { _ = readers.wait(timeout: .now() + 5) }
}
