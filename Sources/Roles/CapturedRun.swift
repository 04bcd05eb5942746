import Foundation

/// A short-lived command run to completion with its input given and its output kept: a file copy over ssh, a tar.
public struct CapturedRun {
    public var status: Int32
    public var output: Data
    public var errors: String

    /// Runs `executable` with `arguments`, writing `input` to its standard input (then closing it) and reading its
    /// standard output and error to their ends, each on a thread of its own so that no pipe fills up and stalls it.
    public static func run(_ executable: URL, _ arguments: [String], input: Data = Data()) throws -> CapturedRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let done = DispatchGroup()
        let collected = Collected()
        DispatchQueue.global().async(group: done) { collected.setOutput(stdout.fileHandleForReading.readDataToEndOfFile()) }
        DispatchQueue.global().async(group: done) { collected.setErrors(stderr.fileHandleForReading.readDataToEndOfFile()) }
        let writer = stdin.fileHandleForWriting
        // A command that exits without reading all its input must not kill us with SIGPIPE: the write just fails.
        signal(SIGPIPE, SIG_IGN)
        try? writer.write(contentsOf: input)
        try? writer.close()
        process.waitUntilExit()
        done.wait()
        return CapturedRun(status: process.terminationStatus, output: collected.output,
                           errors: String(decoding: collected.errors, as: UTF8.self))
    }

    /// The first program called `name` on PATH.
    public static func locate(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}

/// The two outputs of a `CapturedRun`, each written once by its reader thread before the group is waited on.
private final class Collected: @unchecked Sendable {
    // @unchecked: each field is written by one reader thread and read only after `DispatchGroup.wait`.
    private(set) var output = Data()
    private(set) var errors = Data()
    func setOutput(_ data: Data) { output = data }
    func setErrors(_ data: Data) { errors = data }
}
