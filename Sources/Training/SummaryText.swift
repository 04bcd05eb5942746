import Foundation

/// The closing lines a person reads after a run.
public enum SummaryText {
    /// "train_loss 0.0725  test_loss 0.0900  test_accuracy 97.50%  1350 steps  0.2 s  291181 samples/s".
    public static func line(_ s: TrainingSummary) -> String {
        var parts = [String(format: "train_loss %.4f", s.trainLoss)]
        if let v = s.testLoss { parts.append(String(format: "test_loss %.4f", v)) }
        if let v = s.testAccuracy { parts.append(String(format: "test_accuracy %.2f%%", 100 * v)) }
        if let v = s.testMse { parts.append(String(format: "test_mse %.4g", v)) }
        parts.append("\(s.steps) steps")
        parts.append(String(format: "%.1f s", s.wallSeconds))
        parts.append(String(format: "%.0f samples/s", s.samplesPerSecond))
        return parts.joined(separator: "  ")
    }

    /// The line, then where the summary file is.
    public static func render(_ s: TrainingSummary, directory: String) -> String {
        line(s) + "\nsummary: \(directory)/summary.json"
    }

    /// What `render` shows for the run in `directory`, read from the summary its server wrote there. A launcher
    /// calls it once every server ended with status 0, so a missing summary is a fault worth naming.
    public static func render(writtenIn directory: String) throws -> String {
        let summary: TrainingSummary
        do {
            summary = try RunDirectory(sharing: directory).readSummary()
        } catch CocoaError.fileReadNoSuchFile {
            throw SummaryMissing(directory: directory)
        }
        return render(summary, directory: directory)
    }
}

/// The servers of a run ended well, yet wrote no summary.
public struct SummaryMissing: Error, CustomStringConvertible {
    public var directory: String
    public var description: String {
        "every server ended with status 0, yet \(directory)/summary.json is missing: see the server's log, \(directory)/server.log, "
            + "for what it did last"
    }
}
