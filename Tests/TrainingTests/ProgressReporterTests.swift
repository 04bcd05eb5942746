import Foundation
import Testing
import Training

/// The progress view: what a drawn line says, and that steps between draws cost no output.
struct ProgressReporterTests {
    final class Captured: @unchecked Sendable {
        var lines: [String] = []
    }

    @Test func theBarShowsTheFirstAndTheLastStepWithTheirFigures() {
        let captured = Captured()
        let progress = ProgressReporter(totalSteps: 1000, interactive: true) { captured.lines.append($0) }
        for step in 1 ... 1000 {
            progress.step(step, epoch: step > 500 ? 2 : 1, epochs: 2, loss: 0.5, learningRate: 0.01, samplesPerSecond: 1234)
        }
        // The first step draws at once, the last always; in between at most ten draws a second.
        // (The first ETA depends on how long the first step seemed to take.)
        #expect(captured.lines.first?.hasPrefix("\r\u{1B}[2Kepoch 1/2 [..............................] 0%  loss 0.5000  lr 0.01  1234 samples/s  ETA ") == true)
        #expect(captured.lines.last == "\r\u{1B}[2Kepoch 2/2 [##############################] 100%  loss 0.5000  lr 0.01  1234 samples/s  ETA 0:00")
        #expect(captured.lines.count < 100, "\(captured.lines.count) draws for 1000 steps")
    }

    @Test func aQuietReporterWritesNothing() {
        let captured = Captured()
        let progress = ProgressReporter(totalSteps: 10, quiet: true, interactive: true) { captured.lines.append($0) }
        for step in 1 ... 10 { progress.step(step, epoch: 1, epochs: 1, loss: 1, learningRate: 0.1, samplesPerSecond: 1) }
        progress.log("epoch 1/1")
        #expect(captured.lines.isEmpty)
    }

    @Test func aLogLineClearsTheBarFirstOnATerminalOnly() {
        let captured = Captured()
        ProgressReporter(totalSteps: 1, interactive: true) { captured.lines.append($0) }.log("epoch 1/1")
        ProgressReporter(totalSteps: 1, interactive: false) { captured.lines.append($0) }.log("epoch 1/1")
        #expect(captured.lines == ["\r\u{1B}[2Kepoch 1/1\n", "epoch 1/1\n"])
    }
}
