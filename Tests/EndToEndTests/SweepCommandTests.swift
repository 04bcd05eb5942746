import Foundation
import Testing

/// `pstrain sweep` end to end: the runs, the report, the plots, and the tolerance check.
@Suite(.serialized) struct SweepCommandTests {
    @Test func sweepWritesAComparableReportAndPlots() throws {
        let dir = PSTrainProcess.runDirectory()
        let result = try PSTrainProcess.run(["sweep", "--config", "configs/digits-softmax.yaml", "--workers", "1,2", "--modes", "sync,async",
                                             "--run-dir", dir, "--max-accuracy-drop", "0.02", "train.epochs=5",
                                             "train.shuffle=false", "data.shard=strided"], timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try String(contentsOfFile: "\(dir)/report.md", encoding: .utf8)
        for run in ["sync-1w", "sync-2w", "async-2w"] {
            #expect(report.contains("| [\(run)](\(run)/summary.json) |"), "report lacks \(run)")
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(run)/summary.json"))
            // Each run's summary names its event file, and the report links it.
            let summary = try PSTrainProcess.summary(in: "\(dir)/\(run)")
            let events = try #require(summary["event_file"] as? String)
            #expect(events.hasPrefix("events.out.tfevents.") && FileManager.default.fileExists(atPath: "\(dir)/\(run)/\(events)"))
            #expect(report.contains("[TensorBoard](\(run)/\(events))"), "report lacks \(run)'s event file")
        }
        #expect(report.contains("`tensorboard --logdir \(dir)` shows every run's curves side by side"))
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/sweep.json"))) as? [[String: Any]])
        #expect(runs.map { $0["name"] as? String } == ["sync-1w", "sync-2w", "async-2w"])
        #expect(runs.map { $0["per_worker_batch"] as? Int } == [32, 16, 16], "the global batch of 32 is split")
        // Unshuffled strided shards make each sync step's two half-batches the 1-worker run's batch: equal up to rounding.
        let losses = runs.compactMap { ($0["summary"] as? [String: Any])?["test_loss"] as? Double }
        #expect(abs(losses[0] - losses[1]) < 1e-4 * losses[0], "sync-1w \(losses[0]) vs sync-2w \(losses[1])")
        for plot in ["loss-by-step.svg", "loss-by-time.svg"] {
            let svg = try String(contentsOfFile: "\(dir)/\(plot)", encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.components(separatedBy: "<polyline").count == 4, "\(plot): one line per run")
        }
    }

    @Test func aRunOutsideTheToleranceFailsTheSweep() throws {
        let dir = PSTrainProcess.runDirectory()
        // Per-worker batches make 4 sync workers' global batch 4 times larger, so 4 times fewer steps: a worse loss.
        let result = try PSTrainProcess.run(["sweep", "--config", "configs/digits-softmax.yaml", "--workers", "1,4", "--modes", "sync",
                                             "--run-dir", dir, "--max-loss-increase", "0.0001", "--per-worker-batch", "train.epochs=2"],
                                            timeout: 300)
        #expect(result.status != 0)
        #expect(result.stderr.contains("pstrain sweep: outside tolerance: sync-4w"))
        #expect(try String(contentsOfFile: "\(dir)/report.md", encoding: .utf8).contains("| **no** |"))
    }

    @Test func badWorkerListsAreExplained() throws {
        let result = try PSTrainProcess.run(["sweep", "--workers", "1,two", "--run-dir", PSTrainProcess.runDirectory()])
        #expect(result.status != 0 && result.stderr.contains("--workers takes positive whole numbers separated by commas"))
    }
}
