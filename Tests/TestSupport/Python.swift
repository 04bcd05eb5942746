import Foundation

/// Python interpreters for checks against reference implementations: the test venv (`scripts/test` sets up
/// `.venv-tests`), else the system python3, whichever can import the modules asked for.
public enum Python {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func with(_ modules: [String]) -> String? {
        for candidate in [root.appendingPathComponent(".venv-tests/bin/python").path, "/usr/bin/python3", "/usr/local/bin/python3"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            if (try? run(candidate, "import " + modules.joined(separator: ", ")))?.status == 0 { return candidate }
        }
        return nil
    }

    /// Runs `script` with `interpreter`; its exit status and combined output.
    public static func run(_ interpreter: String, _ script: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = ["-c", script]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
