import Config
import Data
import Foundation
import Training

/// Exit statuses of `pstrain server` and `pstrain worker` that the launcher reads.
public enum ChildExitStatus {
    /// The job itself failed: a policy stopped it, or the server ended it, or refused the worker. Restarting the
    /// role would fail the same way; an engine restarting a long-lived server may still do so after a while.
    public static let jobFailed: Int32 = 3

    /// The process cannot use its config or its data (`failsAgainOnRestart`): a file its host lacks, or holds in
    /// another form. 78 is sysexits.h's EX_CONFIG; the systemd units and the Kubernetes Job in deploy/ do not
    /// restart a role that exits with it, since nothing but a person can mend that.
    public static let unusableInput: Int32 = 78

    /// Whether a role that stopped with `error` would stop with it again if started again: its config or its data
    /// cannot be used. It exits with `unusableInput` then.
    public static func failsAgainOnRestart(_ error: any Error) -> Bool { error is ConfigError || error is DataError }

    /// Whether a role that exited with `status` would exit so again if started again, so that a launcher does not.
    public static func restartCannotMend(_ status: Int32) -> Bool { status == jobFailed || status == unusableInput }

    /// A server or shard started by a launcher was stopped (SIGTERM, SIGINT) before the job was done, by a signal
    /// sent to it alone: it wrote its checkpoint as it does when the whole launch is stopped. On its own it exits
    /// 0 then, as engines expect of a graceful stop; to its launcher that is not the job's end.
    public static let stoppedBeforeDone: Int32 = 4
    /// Shard 0 stopped because another shard came back without its state (`ShardLostItsState`): started again with
    /// `--resume` (an engine restarting it with `--resume-if-exists`), it takes every shard back to the latest checkpoint.
    public static let shardLostItsState: Int32 = 5
}

/// Why a launch failed: which process, and where its log is.
public struct LaunchError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Starts a server (or S server shards) and N workers of `pstrain` as child processes, where `placement` puts them
/// (this host, or other hosts through ssh), streams the server's progress, restarts a crashed worker or server shard
/// (the servers from the job's latest checkpoint) up to `maxRestarts` times each, and stops every child when the job
/// ends, when a child fails for good, or when asked to stop.
public final class ClusterLauncher {
    let placement: RolePlacement
    let configPath: String
    let workers: Int
    /// Server shards (`cluster.servers`); shard 0 is "the server", whose progress is shown.
    let servers: Int
    let directory: URL
    let maxRestarts: Int
    let resume: Bool
    let continueWithoutFailedWorkers: Bool
    /// Options for every server shard beyond its config and run directory (keys).
    let serverOptions: [String]
    /// Where the server (shard 0) serves its metrics: `--metrics`'s `[host:]port`.
    let serverMetrics: String?
    /// Options for each worker process beyond its config, endpoint and rank (keys).
    let workerOptions: [String]
    /// Where each worker serves its metrics.
    let workerMetrics: WorkerMetricsPorts?
    let log: @Sendable (String) -> Void
    /// The environment variable that tells each child the launcher's pid, so it can ask the kernel to stop it if
    /// the launcher dies without cleaning up (SIGKILL).
    let parentVariable: String
    private var children: [Child] = []
    private let exited = DispatchSemaphore(value: 0)
    private var tee: LineTee?
    /// The tees of the workers' output.
    private var workerTees: [LineTee] = []

    /// One role's process, the latest of it after restarts.
    private struct Child {
        var role: LaunchRole
        var process: ChildProcess
        var log: URL
        var restarts = 0
        /// A worker that failed for good while the server goes on without it.
        var abandoned = false
    }

    /// - Parameters:
    ///   - placement: where each role runs and how it is started there.
    ///   - configPath: the resolved config every child is started with, so all agree on the job.
    ///   - resume: start the server with `--resume` on `directory`, continuing that run from its latest checkpoint.
    ///   - continueWithoutFailedWorkers: a worker that fails beyond its restarts does not end the job: the server
    ///     goes on without it (`on_worker_failure: continue`) and the job's outcome is the server's.
    public init(placement: RolePlacement, configPath: String, workers: Int, servers: Int = 1, directory: URL, maxRestarts: Int = 0, resume: Bool = false,
                continueWithoutFailedWorkers: Bool = false, serverOptions: [String] = [], serverMetrics: String? = nil,
                workerOptions: [String] = [], workerMetrics: WorkerMetricsPorts? = nil,
                parentVariable: String, log: @escaping @Sendable (String) -> Void) {
        self.continueWithoutFailedWorkers = continueWithoutFailedWorkers
        self.serverOptions = serverOptions
        self.serverMetrics = serverMetrics
        self.workerOptions = workerOptions
        self.workerMetrics = workerMetrics
        self.placement = placement
        self.parentVariable = parentVariable
        self.configPath = configPath
        self.workers = workers
        self.servers = servers
        self.directory = directory
        self.maxRestarts = maxRestarts
        self.resume = resume
        self.log = log
    }

    /// Runs the job; returns when every child has exited successfully. Throws, after stopping every child, when
    /// one fails more often than it may be restarted, the server never reports its endpoint, or `stop` is requested.
    public func run(stop: StopRequest, endpointTimeout: TimeInterval = 120) throws {
        // Every child has ended first, so that its output, the last lines a stopped role writes included, ends
        // before the logs are read, copied back, or the launcher exits.
        defer {
            terminateAll()
            tee?.finish()
            workerTees.forEach { $0.finish() }
        }
        let tee = try LineTee(file: directory.appendingPathComponent("server.log"), echo: log, appending: resume)
        self.tee = tee
        // Shards 1... first: shard 0 connects to them.
        // Where each bound (a restarted shard binds it again), and where the others reach it.
        var shardBinds: [String] = [], shardEndpoints: [String] = []
        for shard in 1 ..< servers {
            let started = try startShard(shard, stop: stop, timeout: endpointTimeout)
            shardBinds.append(started.reported)
            shardEndpoints.append(started.endpoint)
        }
        let address = try startServer(resume: resume, otherShards: shardEndpoints, stop: stop, timeout: endpointTimeout)
        let addresses = ([address] + shardEndpoints).joined(separator: ",")
        log("pstrain launch: server at \(addresses); starting \(workers) workers (logs in \(directory.path))")
        for rank in 0 ..< workers { try startWorker(rank, address: addresses, appending: resume) }
        // Checked once more after the last child has exited, so that its failure is never missed.
        var anyRunning = true
        var serversDoneAt: Date?
        while anyRunning {
            anyRunning = children.contains { $0.process.isRunning }
            if anyRunning { _ = exited.wait(timeout: .now() + 0.2) }
            if serversDoneAt == nil, children.allSatisfy({ $0.role.isWorker || (!$0.process.isRunning && $0.process.terminationStatus == 0) }) {
                serversDoneAt = Date()
            }
            // The servers finished the job, and shut down every worker they could reach. One still running after
            // that was lost to them (hung, stopped, or cut off): it would never end by itself.
            if let done = serversDoneAt, Date().timeIntervalSince(done) > Self.workerGraceAfterServers {
                for child in children where child.role.isWorker && child.process.isRunning {
                    log("pstrain launch: \(name(of: child.role)) was still running \(Int(Self.workerGraceAfterServers)) s after the job ended "
                        + "(the server went on without it); stopped it. Its log: \(child.log.path)")
                }
                break
            }
            if let reason = stop.requested {
                throw LaunchError(message: "stopped (\(reason)); every process was terminated. The server writes a checkpoint as it stops."
                                  + resumeHint)
            }
            for index in children.indices where !children[index].process.isRunning && children[index].process.terminationStatus != 0
                && !children[index].abandoned {
                // A child that ended from the same Ctrl-C as this launcher is not a failure: the next turn reports the stop.
                guard stop.requested == nil else {
                    anyRunning = true
                    break
                }
                let failed = children[index]
                if !failed.role.isWorker && failed.process.terminationStatus == ChildExitStatus.stoppedBeforeDone {
                    // Someone stopped that server on purpose: restarting it would undo that, and the job cannot go on without it.
                    throw LaunchError(message: "\(name(of: failed.role)) was stopped before the job was done, by a signal sent to it rather than "
                                      + "to pstrain launch; stopped the others." + resumeHint
                                      + " Its log: \(failed.log.path)\n" + Self.tail(of: failed.log))
                }
                let status = failed.process.terminationStatus
                let meaning = status == ChildExitStatus.unusableInput ? "it cannot use its config or data there, which a restart would not mend"
                    : placement.meaning(ofStatus: status, of: failed.role)
                let how = "\(name(of: failed.role)) failed with status \(status)" + (meaning.map { " (\($0))" } ?? "")
                guard failed.restarts < maxRestarts, !ChildExitStatus.restartCannotMend(status) else {
                    if failed.role.isWorker && continueWithoutFailedWorkers && !ChildExitStatus.restartCannotMend(status) {
                        children[index].abandoned = true
                        // The server would wait cluster.replacement_timeout for a worker only this launcher starts, then fail the job.
                        guard children.contains(where: { $0.role.isWorker && !$0.abandoned }) else {
                            throw LaunchError(message: how + "; it was the last worker left, and the server cannot go on without any "
                                              + "(cluster.on_worker_failure: continue); stopped the server." + resumeHint
                                              + " Its log: \(failed.log.path)\n" + Self.tail(of: failed.log))
                        }
                        log("pstrain launch: \(how); the server goes on without it (cluster.on_worker_failure: continue). "
                            + "Its log: \(failed.log.path)")
                        continue
                    }
                    let restarts = failed.restarts > 0 ? " after \(failed.restarts) restarts (cluster.max_restarts)" : ""
                    throw LaunchError(message: how + restarts
                                      + "; stopped the others. Its log: \(failed.log.path)\n" + Self.tail(of: failed.log))
                }
                children.remove(at: index)
                switch failed.role {
                case .server:
                    log("pstrain launch: \(how); restarting it from the latest checkpoint (\(failed.restarts + 1) of \(maxRestarts))")
                    _ = try startServer(resume: true, otherShards: shardEndpoints, stop: stop, timeout: endpointTimeout)
                case .shard(let shard):
                    log("pstrain launch: \(how); restarting it at its endpoint, and the server from the latest checkpoint, which takes "
                        + "every shard back to it (\(failed.restarts + 1) of \(maxRestarts))")
                    try restartShard(shard, bind: shardBinds[shard - 1], endpoint: shardEndpoints[shard - 1], otherShards: shardEndpoints,
                                     stop: stop, timeout: endpointTimeout)
                case .worker(let rank):
                    log("pstrain launch: \(how); restarting it (\(failed.restarts + 1) of \(maxRestarts))")
                    try startWorker(rank, address: addresses, appending: true)
                }
                children[children.firstIndex { $0.role == failed.role }!].restarts = failed.restarts + 1
                anyRunning = true
                break
            }
        }
    }

    /// How the user continues this run after the launcher gave up: " <command> continues the run from its latest
    /// checkpoint.", or nothing where the placement has no such command.
    private var resumeHint: String {
        placement.resumeCommand(directory: directory.path).map { " \($0) continues the run from its latest checkpoint." } ?? ""
    }

    /// Starts the server, shard 0 of a sharded job (with `--resume` on the run directory, binding the endpoint it
    /// recorded, after a crash), and returns the endpoint it reports.
    private func startServer(resume: Bool, otherShards: [String], stop: StopRequest, timeout: TimeInterval) throws -> String {
        let arguments = (resume ? ["server", "--resume", directory.path]
            : ["server", "--config", configPath, "--run-dir", directory.path, "--bind", placement.bindAddress(shard: 0)]) + serverOptions
            + (serverMetrics.map { ["--metrics", $0] } ?? [])
            + (otherShards.isEmpty ? [] : ["--shard", "0", "--other-shards", otherShards.joined(separator: ",")])
        return placement.connectAddress(reported: try startServing(.server, arguments, tee: tee!, echo: true, stop: stop, timeout: timeout),
                                        shard: 0)
    }

    /// Starts server shard `shard` (not 0), binding `bind` (by default the placement's address), logging to
    /// `server-<shard>.log`; returns the endpoint it reports binding and the one others connect to.
    private func startShard(_ shard: Int, bind: String? = nil, stop: StopRequest, timeout: TimeInterval) throws -> (reported: String, endpoint: String) {
        let arguments = ["server", "--config", configPath, "--run-dir", directory.path, "--bind", bind ?? placement.bindAddress(shard: shard),
                         "--shard", "\(shard)", "--quiet"] + serverOptions
        let tee = try LineTee(file: directory.appendingPathComponent("server-\(shard).log"), echo: log, appending: resume || bind != nil)
        let reported = try startServing(.shard(shard), arguments, tee: tee, echo: placement.label(of: .shard(shard)) != nil, stop: stop,
                                        timeout: timeout)
        return (reported, placement.connectAddress(reported: reported, shard: shard))
    }

    /// Brings back shard `shard` after a crash. It comes back empty, at step 0, while the rest of the job is
    /// further on; only shard 0 resuming from the job's checkpoint hands every shard its slice of one step. So
    /// shard 0 is stopped, the shard started again where it listened before (`bind`; the workers and shard 0 know
    /// it as `endpoint`), then shard 0 with `--resume`. The workers register again, as after a crash of shard 0.
    private func restartShard(_ shard: Int, bind: String, endpoint: String, otherShards: [String], stop: StopRequest,
                              timeout: TimeInterval) throws {
        var serverRestarts = 0
        if let index = children.firstIndex(where: { $0.role == .server }) {
            serverRestarts = children[index].restarts
            // Killed, not asked to stop: a checkpoint as it stopped would need the lost shard's slice, and it would
            // wait for that in vain and then tell the user to resume, which is what happens next anyway.
            let server = children.remove(at: index).process
            server.terminate(with: SIGKILL)
            server.waitUntilExit()
        }
        let restarted = try startShard(shard, bind: bind, stop: stop, timeout: timeout).endpoint
        guard restarted == endpoint else {
            throw LaunchError(message: "server shard \(shard) came back at \(restarted), not at \(endpoint) where the workers and the server "
                              + "look for it; stopped the others." + resumeHint)
        }
        _ = try startServer(resume: true, otherShards: otherShards, stop: stop, timeout: timeout)
        children[children.count - 1].restarts = serverRestarts
    }

    /// Starts a server role whose output goes through `tee` (its standard error echoed when `echo`), and waits for
    /// the "listening on" line that tells its endpoint.
    private func startServing(_ role: LaunchRole, _ arguments: [String], tee: LineTee, echo: Bool, stop: StopRequest,
                              timeout: TimeInterval) throws -> String {
        let endpoint = EndpointLatch()
        let log = log, prefix = placement.label(of: role).map { "[\($0)] " } ?? ""
        let process = try start(role, arguments, log: tee.url) { out, err in
            tee.follow(out.fileHandleForReading, echo: false) { line in
                if line.hasPrefix("listening on ") { endpoint.set(String(line.dropFirst("listening on ".count))) }
                if line.hasPrefix("metrics on ") { log(prefix + line) }
            }
            tee.follow(err.fileHandleForReading, echo: echo, prefix: prefix) { _ in }
        }
        guard let address = endpoint.wait(timeout: timeout, while: { process.isRunning && stop.requested == nil }) else {
            throw LaunchError(message: stop.requested.map { "stopped (\($0)) before the \(name(of: role)) started" }
                              ?? "the \(name(of: role)) did not report its endpoint"
                              + (process.isRunning ? " within \(Int(timeout)) s" : "; it exited with status \(process.terminationStatus)")
                              + "; see \(tee.url.path)\n" + Self.tail(of: tee.url))
        }
        return address
    }

    private func startWorker(_ rank: Int, address: String, appending: Bool) throws {
        let logURL = directory.appendingPathComponent("worker-\(rank).log")
        let arguments = ["worker", "--config", configPath, "--connect", address, "--rank", "\(rank)"] + workerOptions
            + (workerMetrics.map { ["--metrics", $0.address(rank: rank)] } ?? [])
        // Its output goes through the launcher: echoed with its label where the placement gives one, and its
        // metrics address shown in any case.
        let label = placement.label(of: .worker(rank))
        let tee = try LineTee(file: logURL, echo: log, appending: appending)
        workerTees.append(tee)
        let log = log
        try start(.worker(rank), arguments, log: logURL) { out, err in
            for pipe in [out, err] {
                tee.follow(pipe.fileHandleForReading, echo: label != nil, prefix: label.map { "[\($0)] " } ?? "") { line in
                    if label == nil && line.hasPrefix("metrics on ") { log("worker \(rank): " + line) }
                }
            }
        }
    }

    /// Starts `role`, its standard output and error going into the two pipes `reading` is given to follow.
    @discardableResult
    private func start(_ role: LaunchRole, _ arguments: [String], log logURL: URL, reading: (Pipe, Pipe) -> Void) throws -> ChildProcess {
        let command = placement.command(for: role, arguments: arguments)
        let out = Pipe(), err = Pipe()
        let exited = exited
        let process: ChildProcess
        do {
            process = try ChildProcess(executable: command.executable, arguments: command.arguments,
                                       environment: ProcessInfo.processInfo.environment.merging([parentVariable: "\(getpid())"]) { $1 },
                                       output: out, errors: err) { exited.signal() }
        } catch {
            throw LaunchError(message: "cannot start \(name(of: role)) (\(command.executable.path)): \(error.localizedDescription)")
        }
        reading(out, err)
        children.append(Child(role: role, process: process, log: logURL))
        return process
    }

    /// The role as messages name it: "worker 3", or "worker 3 on node2".
    private func name(of role: LaunchRole) -> String {
        placement.label(of: role) ?? role.name
    }

    /// How long workers may take to exit once the servers have finished: a worker the server reached gets its
    /// shutdown in milliseconds.
    static let workerGraceAfterServers: TimeInterval = 10

    /// Asks every running child to stop by closing its input, which a role takes as SIGTERM (through ssh, the
    /// connection stays up to bring back its last lines); SIGTERM to any still running after `grace` (an ssh then
    /// ends its connection, whose end stops the remote role too), SIGKILL to any still running 2 s later; waits for all.
    private func terminateAll(grace: TimeInterval = 5) {
        let running = children.filter { $0.process.isRunning }
        guard !running.isEmpty else { return }
        running.forEach { $0.process.closeInput() }
        waitForExits(of: running, seconds: grace)
        running.forEach { $0.process.terminate() }
        waitForExits(of: running, seconds: 2)
        running.forEach { $0.process.terminate(with: SIGKILL) }
        running.forEach { $0.process.waitUntilExit() }
    }

    /// Waits until every one of `children` has exited, or `seconds` pass.
    private func waitForExits(of children: [Child], seconds: TimeInterval) {
        // Each exit signals `exited`.
        let deadline = DispatchTime.now() + seconds
        while children.contains(where: { $0.process.isRunning }) && exited.wait(timeout: deadline) == .success {}
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
    /// The log file.
    let url: URL
    private let echo: @Sendable (String) -> Void
    private let readers = DispatchGroup()

    init(file url: URL, echo: @escaping @Sendable (String) -> Void, appending: Bool = false) throws {
        if !appending || !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        file = try FileHandle(forWritingTo: url)
        file.seekToEndOfFile()
        self.url = url
        self.echo = echo
    }

    /// Reads `handle` to its end on a thread of its own, writing each line to the log and passing it to `onLine`;
    /// echoed lines start with `prefix`.
    func follow(_ handle: FileHandle, echo shouldEcho: Bool, prefix: String = "", onLine: @escaping @Sendable (String) -> Void) {
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
                    if shouldEcho { echo(prefix + line) }
                    onLine(line)
                }
            }
        }.start()
    }

    /// Waits (bounded) for the readers to drain what the children wrote before they exited.
    func finish() { _ = readers.wait(timeout: .now() + 5) }
}
