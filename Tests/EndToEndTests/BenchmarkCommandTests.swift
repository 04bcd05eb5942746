import Foundation
import Testing

/// The communication benchmark starts its server and echo as processes of their own: it must measure through them
/// and leave none behind. (Its figures are for release builds; this only runs it, briefly, in the test build.)
@Suite struct BenchmarkCommandTests {
    @Test func communicationBenchmarkMeasuresThroughPeerProcessesAndStopsThem() throws {
        let bench = PSTrainProcess.binary.deletingLastPathComponent().appendingPathComponent("pstrain-bench")
        try #require(FileManager.default.isExecutableFile(atPath: bench.path), "pstrain-bench not found at \(bench.path); `swift test` builds it")
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-bench-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let result = try PSTrainProcess.run(executable: bench, ["comm", "--sizes", "0.25", "--seconds", "0.3", "--json", json.path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let rows = try #require(report["results"] as? [[String: Any]])
        #expect(rows.compactMap { $0["transport"] as? String } == ["tcp", "ipc"])
        for row in rows {
            let ours = try #require(row["pstrain_ms"] as? Double), echo = try #require(row["raw_echo_ms"] as? Double)
            #expect(ours > 0 && echo > 0 && ours.isFinite && echo.isFinite, "\(row)")
            // The server's share of a round trip is part of it. It is a mean over every call, the round trip a
            // median of rounds: in this debug build the server's work is nearly all of a round trip, and the mean
            // may pass the median by a little.
            let server = try #require(row["server_ms"] as? Double)
            #expect(server > 0 && server < 1.25 * ours, "\(row)")
        }
        #expect(peersStillRunning().isEmpty, "comm-peer processes left behind: \(peersStillRunning())")
    }

    /// Process ids whose command line is a benchmark peer.
    func peersStillRunning() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.filter { pid in
            let commandLine = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return commandLine.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "comm-peer" }
        }
    }
}
