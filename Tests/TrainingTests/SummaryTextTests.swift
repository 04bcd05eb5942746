import Foundation
import Testing
import Training

/// The closing lines a launcher prints from the summary its server wrote.
struct SummaryTextTests {
    static func scratchDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-summary-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aWrittenSummaryIsShownWithWhereItIs() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let summary = TrainingSummary(status: "completed", model: "softmax 64->10", parameters: 650, trainLoss: 0.0725, trainAccuracy: 0.98,
                                      testLoss: 0.09, testAccuracy: 0.975, testMse: nil, testMae: nil, steps: 1350, epochs: 15,
                                      samples: 21_600, wallSeconds: 0.24, trainSeconds: 0.2, samplesPerSecond: 108_000,
                                      finalLearningRate: 0.1)
        try RunDirectory(sharing: directory).writeSummary(summary)
        #expect(try SummaryText.render(writtenIn: directory)
            == "train_loss 0.0725  test_loss 0.0900  test_accuracy 97.50%  1350 steps  0.2 s  108000 samples/s\nsummary: \(directory)/summary.json")
    }

    @Test func aMissingSummaryIsNamedWithTheLogToRead() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = try #require(throws: SummaryMissing.self) { try SummaryText.render(writtenIn: directory) }
        #expect(error.description == "every server ended with status 0, yet \(directory)/summary.json is missing: see the server's log, "
            + "\(directory)/server.log, for what it did last")
    }
}
