import Foundation
import Testing

/// 32 worker processes against one server for over two minutes: training never stalls, and the server's
/// resident memory stays flat after a warm-up. `scripts/test` runs this suite on its own, after the others,
/// so that its 33 processes do not slow the timing-sensitive tests down.
@Suite(.serialized) struct LoadTests {
    static let duration: TimeInterval = 125
    static let warmUp: TimeInterval = 30

    /// The server's resident set (VmRSS) in KiB.
    static func residentKiB(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    @Test func thirtyTwoWorkersForTwoMinutes() throws {
        let dir = PSTrainProcess.runDirectory()
        let launch = try PSTrainProcess.start([
            "launch", "--workers", "32", "--run-dir", dir, "model.kind=softmax", "data.features=16", "data.samples=20000",
            "data.test_samples=500", "cluster.mode=async", "train.epochs=1000000", "train.log_every=500", "train.checkpoint_seconds=20",
            "cluster.heartbeat_timeout=10",
        ], stderrPath: "\(dir).stderr")
        defer { launch.stop() }
        let start = Date()
        var server: Int32?
        while server == nil && Date().timeIntervalSince(start) < 60 && launch.process.isRunning {
            server = try PSTrainProcess.processes(mentioning: "server --config \(dir)/launch.yaml").first
            if server == nil { usleep(100_000) }
        }
        let pid = try #require(server, "no server process")

        // One sample a second: resident memory, and the newest logged step.
        var samples: [(seconds: Double, kib: Int, step: Int)] = []
        while Date().timeIntervalSince(start) < Self.duration && launch.process.isRunning {
            if let kib = Self.residentKiB(of: pid) {
                samples.append((Date().timeIntervalSince(start), kib, FailureTests.loggedStep(dir)))
            }
            usleep(1_000_000)
        }
        #expect(launch.process.isRunning, "the launch ended early: \((try? String(contentsOfFile: "\(dir).stderr", encoding: .utf8)) ?? "")")
        kill(launch.process.processIdentifier, SIGTERM)
        #expect(launch.wait(timeout: 60) != nil, "the launch did not stop")
        #expect(try PSTrainProcess.processes(mentioning: "\(dir)/launch.yaml").isEmpty, "processes left behind")

        let steady = samples.filter { $0.seconds >= Self.warmUp }
        try #require(steady.count >= 60, "too few samples: \(samples.count)")
        let low = steady.map(\.kib).min()!, high = steady.map(\.kib).max()!
        #expect(Double(high) <= 1.1 * Double(low), "server resident memory after warm-up ranged \(low)-\(high) KiB")
        // No stall: the logged step moves in every 15-second window after the warm-up.
        for window in stride(from: Self.warmUp, to: Self.duration - 15, by: 15) {
            let inWindow = steady.filter { $0.seconds >= window && $0.seconds < window + 15 }
            #expect((inWindow.last?.step ?? 0) > (inWindow.first?.step ?? 0), "no progress between \(window) s and \(window + 15) s")
        }
        let log = (try? String(contentsOfFile: "\(dir)/server.log", encoding: .utf8)) ?? ""
        #expect(!log.contains(" lost: "), "a worker was lost under load")
        print("load: \(samples.last?.step ?? 0) steps in \(Int(Self.duration)) s; server resident \(low)-\(high) KiB after \(Int(Self.warmUp)) s")
    }
}
