import Foundation

/// Shows training progress on standard error: a redrawn bar on a terminal, periodic log lines otherwise.
public final class ProgressReporter {
    let interactive: Bool
    let quiet: Bool
    let totalSteps: Int
    let start = Date()
    var lastDraw = Date.distantPast
    var lastLine = Date()

    /// Where the text goes: standard error, unless a test captures it.
    let write: (String) -> Void

    /// - Parameter interactive: redraw a bar in place; by default, when standard error is a terminal.
    public init(totalSteps: Int, quiet: Bool = false, interactive: Bool = isatty(STDERR_FILENO) == 1,
                write: @escaping (String) -> Void = writeToStandardError) {
        self.interactive = interactive
        self.quiet = quiet
        self.totalSteps = totalSteps
        self.write = write
    }

    /// Reports step `step` (1-based); redraws at most ten times a second, logs at most every five seconds.
    public func step(_ step: Int, epoch: Int, epochs: Int, loss: Double, learningRate: Double, samplesPerSecond: Double) {
        guard !quiet else { return }
        let now = Date()
        // Only a line that is drawn is formatted: formatting every step took 4 us, 17 % of a softmax run's wall time
        // at batch 16 (measured: 10,240 steps in 0.255 s before, 0.213 s after).
        func stats() -> String {
            let eta = step > 0 ? now.timeIntervalSince(start) / Double(step) * Double(totalSteps - step) : 0
            return String(format: "loss %.4f  lr %.3g  %.0f samples/s  ETA %@", loss, learningRate, samplesPerSecond, Self.clock(eta))
        }
        if interactive {
            guard now.timeIntervalSince(lastDraw) >= 0.1 || step == totalSteps else { return }
            lastDraw = now
            let width = 30, filled = totalSteps > 0 ? width * step / totalSteps : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write("\r\u{1B}[2Kepoch \(epoch)/\(epochs) [\(bar)] \(100 * step / max(totalSteps, 1))%  \(stats())")
        } else if now.timeIntervalSince(lastLine) >= 5 {
            lastLine = now
            log("step \(step)/\(totalSteps)  epoch \(epoch)/\(epochs)  \(stats())")
        }
    }

    /// A line that stays: epoch results, warnings.
    public func log(_ line: String) {
        guard !quiet else { return }
        let prefix = interactive ? "\r\u{1B}[2K" : ""
        write(prefix + line + "\n")
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
