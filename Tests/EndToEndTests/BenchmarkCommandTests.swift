import Foundation
import Testing

/// The communication benchmark starts its server and echo as processes of their own: it must measure through them
/// and leave none behind. (Its figures are for release builds; this only runs it, briefly, in the test build.)
/// Serialized: the look for peers left behind finds every `comm-peer` on the machine, another test's too.
@Suite(.serialized) struct BenchmarkCommandTests {
    /// `pstrain-bench`, built beside `pstrain` by `swift test`.
    let bench = PSTrainProcess.binary.deletingLastPathComponent().appendingPathComponent("pstrain-bench")

    @Test func communicationBenchmarkMeasuresThroughPeerProcessesAndStopsThem() throws {
        try #require(FileManager.default.isExecutableFile(atPath: bench.path), "pstrain-bench not found at \(bench.path); `swift test` builds it")
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-bench-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let result = try PSTrainProcess.run(executable: bench, ["comm", "--sizes", "0.25", "--seconds", "0.3", "--json", json.path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let rows = try #require(report["results"] as? [[String: Any]])
        // Pinned rows need two CPUs to pin to; a one-core machine measures the free placement only.
        let (cpuList, cpus) = allowedCPUs()
        let placements = cpus.count >= 2 ? ["free", "pinned"] : ["free"]
        #expect(rows.compactMap { $0["placement"] as? String } == placements.flatMap { [$0, $0] })
        #expect(rows.compactMap { $0["transport"] as? String } == placements.flatMap { _ in ["tcp", "ipc"] })
        for row in rows {
            // Where each side was allowed to run, as /proc listed it during the measurement: the placement took.
            let workerCPUs = try #require(row["worker_cpus"] as? String), serverCPUs = try #require(row["server_cpus"] as? String)
            if row["placement"] as? String == "pinned" {
                #expect(workerCPUs == "\(cpus[1])" && serverCPUs == "\(cpus[0])", "\(row)")
            } else {
                #expect(workerCPUs == cpuList && serverCPUs == cpuList, "\(row)")
            }
            let ours = try #require(row["pstrain_ms"] as? Double), echo = try #require(row["raw_echo_ms"] as? Double)
            #expect(ours > 0 && echo > 0 && ours.isFinite && echo.isFinite, "\(row)")
            // The server's share of a round trip is part of it. It is a mean over every call, the round trip a
            // median of rounds: in this debug build the server's work is nearly all of a round trip, and the mean
            // may pass the median by a little.
            let server = try #require(row["server_ms"] as? Double)
            #expect(server > 0 && server < 1.25 * ours, "\(row)")
        }
        let peersLeft = try PSTrainProcess.processes(mentioning: " comm-peer --role ")
        #expect(peersLeft.isEmpty, "comm-peer processes left behind: \(peersLeft)")
    }

    /// Several runs end in a summary of each row's ratio over them, in the JSON too.
    @Test func severalRunsAreSummedUpPerRow() throws {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-bench-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let result = try PSTrainProcess.run(executable: bench, ["comm", "--runs", "3", "--placements", "free", "--transports", "ipc", "--sizes", "0.25",
                                                                "--seconds", "0.2", "--json", json.path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("run 3 of 3\n") && result.stdout.contains("pstrain / echo over 3 runs\n"), "\(result.stdout)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let rows = try #require(report["results"] as? [[String: Any]])
        #expect(rows.compactMap { $0["run"] as? Int } == [1, 2, 3])
        let ratios = try rows.map { try #require($0["ratio"] as? Double) }.sorted()
        let summary = try #require(report["summary"] as? [[String: Any]])
        #expect(summary.count == 1)
        let row = try #require(summary.first)
        #expect(row["placement"] as? String == "free" && row["transport"] as? String == "ipc" && row["runs"] as? Int == 3, "\(row)")
        #expect(row["lowest"] as? Double == ratios[0] && row["median"] as? Double == ratios[1] && row["highest"] as? Double == ratios[2], "\(row)")
        #expect(row["within_target"] as? Int == ratios.filter { $0 <= 1.15 }.count, "\(row)")
    }

    @Test func saysWhatItWantsForAPlacementOrRunCountItCannotUse() throws {
        let placement = try PSTrainProcess.run(executable: bench, ["comm", "--placements", "spread"], timeout: 30)
        #expect(placement.status != 0 && placement.stderr.contains("unknown placement 'spread' in --placements: use free, pinned or both"),
                "\(placement.stderr)")
        let runs = try PSTrainProcess.run(executable: bench, ["comm", "--runs", "0"], timeout: 30)
        #expect(runs.status != 0 && runs.stderr.contains("--runs must be at least 1, got 0"), "\(runs.stderr)")
    }

    /// The CPUs this process may run on: its `Cpus_allowed_list` in /proc as written ("0-1" or "0,2,5-7") and the
    /// numbers it lists.
    func allowedCPUs() -> (list: String, cpus: [Int]) {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }?.split(separator: ":").last ?? ""
        let list = line.trimmingCharacters(in: .whitespaces)
        return (list, list.split(separator: ",").flatMap { range -> [Int] in
            let ends = range.split(separator: "-").compactMap { Int($0) }
            return ends.count == 2 ? Array(ends[0] ... ends[1]) : ends
        })
    }
}
