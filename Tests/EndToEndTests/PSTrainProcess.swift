import CProcessControl
import Foundation
import Testing

/// Runs the built `pstrain` binary as a child process, with a time limit, from the package root.
struct PSTrainProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary sits beside the test bundle in SwiftPM's build folder (`swift test` builds it too).
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("pstrain")
    }

    /// Runs `pstrain arguments...`; a child still running after `timeout` seconds is killed and reported.
    static func run(_ arguments: [String], timeout: TimeInterval = 120, environment: [String: String] = [:]) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            Issue.record("pstrain binary not found at \(binary.path); run the tests with `swift test`, which builds it")
            return Result(status: -1, stdout: "", stderr: "")
        }
        return try run(executable: binary, arguments, timeout: timeout, environment: environment)
    }

    /// Runs `executable arguments...` from the package root, as `run` does `pstrain`.
    static func run(executable: URL, _ arguments: [String], timeout: TimeInterval, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        // Output goes to files, not pipes: a chatty child can never block on a full pipe.
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-out-\(UUID().uuidString)").path
        let outPath = logs + ".out", errPath = logs + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try startAsFromAShell(process)
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish within \(timeout) s; killed")
        }
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
            stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
    }

    /// A `pstrain` child left running; stop it with `stop()` (also done on deinit, so a failed test kills it).
    final class Running {
        let process: Process
        let stdout: FileHandle
        /// Output read but not yet returned by `line(startingWith:)`.
        private var unread = ""
        init(process: Process, stdout: FileHandle) {
            self.process = process
            self.stdout = stdout
        }
        deinit { stop() }

        /// Reads standard output up to the first line that starts with `prefix`; nil at end of output. Lines
        /// after it stay for the next call.
        func line(startingWith prefix: String) -> String? {
            while true {
                while let newline = unread.firstIndex(of: "\n") {
                    let line = unread[..<newline]
                    unread = String(unread[unread.index(after: newline)...])
                    if line.hasPrefix(prefix) { return String(line) }
                }
                let chunk = stdout.availableData
                if chunk.isEmpty { return nil }
                unread += String(decoding: chunk, as: UTF8.self)
            }
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        /// Waits up to `timeout` seconds for the process to exit; its status, or nil if it is still running.
        func wait(timeout: TimeInterval) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            return process.isRunning ? nil : process.terminationStatus
        }
    }

    /// Starts `pstrain arguments...` in the background, standard output readable, standard error to `stderrPath`,
    /// standard input `input` if given; inside network namespace `namespace` when given (`ip netns exec` runs
    /// pstrain in its own place, so the process is pstrain's).
    static func start(_ arguments: [String], stderrPath: String, environment: [String: String] = [:], namespace: String? = nil,
                      input: FileHandle? = nil) throws -> Running {
        let process = Process()
        if let input { process.standardInput = input }
        if let namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace, binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = packageRoot
        let out = Pipe()
        process.standardOutput = out
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try startAsFromAShell(process)
        return Running(process: process, stdout: out.fileHandleForReading)
    }

    /// Starts `process` with SIGINT and SIGTERM unblocked, as a shell, sshd or a container runtime starts pstrain.
    /// A child inherits the signal mask of the thread that starts it, and the test runner's threads block them:
    /// children started that way once hid a bug that only a real user's SIGTERM met.
    static func startAsFromAShell(_ process: Process) throws {
        var stopSignals = sigset_t(), previous = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }

    /// A pipe whose ends close on exec, as the launcher's input pipes: a child another test starts meanwhile
    /// never holds the writing end open (a Foundation `Pipe` it may inherit).
    static func pipeClosedOnExec() throws -> (read: FileHandle, write: FileHandle) {
        var ends: [Int32] = [-1, -1]
        guard pstrain_pipe_closed_on_exec(&ends) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        return (FileHandle(fileDescriptor: ends[0], closeOnDealloc: true), FileHandle(fileDescriptor: ends[1], closeOnDealloc: true))
    }

    /// Polls `condition` every 20 ms until it holds (true) or `timeout` seconds pass (false).
    static func waitFor(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { return false }
            usleep(20_000)
        }
        return true
    }

    /// A child's standard error file, for a failure message.
    static func log(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log at \(path))"
    }

    /// A fresh, not yet existing run directory path under the temporary folder.
    static func runDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-e2e-\(UUID().uuidString)").path
    }

    static func summary(in directory: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/summary.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
