import Foundation
import Training

/// Writes a sweep's `report.md`, `sweep.json`, `loss-by-step.svg` and `loss-by-time.svg`.
public enum SweepReport {
    public static func write(_ runs: [SweepRun], to directory: URL, title: String, tolerance: SweepTolerance) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(runs).write(to: directory.appendingPathComponent("sweep.json"), options: .atomic)
        let byStep = LinePlot(title: "Training loss by step", xLabel: "step (server version)", yLabel: "loss",
                              series: runs.map { .init(name: $0.name, points: $0.curve.map { ($0[0], $0[2]) }) })
        let byTime = LinePlot(title: "Training loss by wall time", xLabel: "seconds", yLabel: "loss",
                              series: runs.map { .init(name: $0.name, points: $0.curve.map { ($0[1], $0[2]) }) })
        try byStep.svg().write(to: directory.appendingPathComponent("loss-by-step.svg"), atomically: true, encoding: .utf8)
        try byTime.svg().write(to: directory.appendingPathComponent("loss-by-time.svg"), atomically: true, encoding: .utf8)
        try markdown(runs, title: title, tolerance: tolerance, directory: directory.path).write(to: directory.appendingPathComponent("report.md"), atomically: true, encoding: .utf8)
    }

    static func markdown(_ runs: [SweepRun], title: String, tolerance: SweepTolerance, directory: String) -> String {
        func number(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "–" }
        func signed(_ value: Double?, _ format: String) -> String { value.map { ($0 >= 0 ? "+" : "") + String(format: format, $0) } ?? "–" }
        var text = "# Sweep: \(title)\n\n"
        text += "Reference: `\(runs.first?.name ?? "-")`. Each run's directory holds its config, metrics, summary and logs. "
        text += "`tensorboard --logdir \(directory)` shows every run's curves side by side.\n\n"
        text += "| run | mode | workers | batch/worker | steps | train loss | test loss | test accuracy | Δ accuracy | Δ test loss | wall s | samples/s | max staleness | within tolerance | events |\n"
        text += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
        for r in runs {
            let s = r.summary
            text += "| [\(r.name)](\(r.directory)/summary.json) | \(r.mode) | \(r.workers) | \(r.perWorkerBatch) | \(s.steps) | "
            text += "\(number(s.trainLoss, "%.4f")) | \(number(s.testLoss, "%.4f")) | \(number(s.testAccuracy.map { 100 * $0 }, "%.2f %%")) | "
            text += "\(signed(r.testAccuracyChange.map { 100 * $0 }, "%.2f pt")) | \(signed(r.testLossChange, "%.4f")) | "
            text += "\(number(s.wallSeconds, "%.1f")) | \(number(s.samplesPerSecond, "%.0f")) | \(s.maxStaleness.map(String.init) ?? "–") | "
            text += (r.withinTolerance ? "yes" : "**no**") + " | "
            text += (s.eventFile.map { "[TensorBoard](\(r.directory)/\($0))" } ?? "–") + " |\n"
        }
        let notes = runs.compactMap { r in r.note.map { "- `\(r.name)`: \($0)" } }
        if !notes.isEmpty { text += "\nNotes:\n" + notes.joined(separator: "\n") + "\n" }
        var limits: [String] = []
        if let drop = tolerance.accuracyDrop { limits.append(String(format: "test accuracy at most %.2f points below the reference", 100 * drop)) }
        if let increase = tolerance.lossIncrease { limits.append(String(format: "test loss at most %.0f %% above the reference", 100 * increase)) }
        text += "\nTolerance: " + (limits.isEmpty ? "none given." : limits.joined(separator: "; ") + ".") + "\n"
        text += "\n![loss by step](loss-by-step.svg)\n\n![loss by wall time](loss-by-time.svg)\n"
        return text
    }
}
