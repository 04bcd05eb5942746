import Foundation
import Testing

/// `pstrain server --metrics` and `pstrain worker --metrics`: a real server and worker scraped with curl while the
/// workers train, then the server while one of them is lost.
@Suite(.serialized) struct MetricsEndpointTests {
    // Long enough that the test, not the job, decides when it ends.
    let config = ["--config", "configs/digits-softmax.yaml", "cluster.workers=2", "cluster.heartbeat_timeout=1", "train.epochs=20000",
                  "train.checkpoint_every=100"]

    @Test func scrapedDuringARunItShowsProgressWorkersAndHealth() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl is installed by scripts/install-deps")
        let dir = PSTrainProcess.runDirectory()
        let started = Date()
        let server = try PSTrainProcess.start(["server", "--run-dir", dir, "--metrics", "127.0.0.1:0"] + config, stderrPath: "\(dir).stderr")
        defer { server.stop() }
        let endpoint = String(try #require(server.line(startingWith: "listening on "), "the server ended: \(PSTrainProcess.log("\(dir).stderr"))").dropFirst("listening on ".count))
        let metricsURL = String(try #require(server.line(startingWith: "metrics on "), "the server ended: \(PSTrainProcess.log("\(dir).stderr"))").dropFirst("metrics on ".count))
        #expect(metricsURL.hasPrefix("http://127.0.0.1:") && metricsURL.hasSuffix("/metrics"))
        let healthURL = metricsURL.replacingOccurrences(of: "/metrics", with: "/healthz")

        let waiting = try Self.curl(healthURL)
        #expect(waiting.status == 200 && waiting.body.contains("\"phase\": \"waiting_for_workers\""), "\(waiting)")

        // Worker 0 serves its own metrics too.
        let workers = try (0 ..< 2).map { rank in
            try PSTrainProcess.start(["worker", "--connect", endpoint, "--rank", "\(rank)"] + (rank == 0 ? ["--metrics", "127.0.0.1:0"] : []) + config,
                                     stderrPath: "\(dir).worker\(rank)")
        }
        defer { workers.forEach { $0.stop() } }
        let workerURL = String(try #require(workers[0].line(startingWith: "metrics on "), "worker 0 ended: \(PSTrainProcess.log("\(dir).worker0"))")
            .dropFirst("metrics on ".count))

        // Each metric is read on its own, so a scrape may catch one update counted and not yet another.
        let first = try Self.scrape(metricsURL, until: { ($0["pstrain_step"] ?? 0) >= 100 && ($0["pstrain_last_checkpoint_step"] ?? 0) >= 100 })
        #expect(first["pstrain_workers{state=\"live\"}"] == 2 && first["pstrain_workers{state=\"unregistered\"}"] == 0)
        #expect(first["pstrain_total_steps"] == Double(20000 * 23), "1,437 rows / (2 x 32) per step -> 23 steps an epoch")
        let step = try #require(first["pstrain_step"])
        let applied = try #require(first["pstrain_updates_applied_total"])
        #expect(applied >= step)
        #expect(try #require(first["pstrain_staleness_count"]) >= step, "every update's staleness is recorded")
        #expect(first["pstrain_staleness_sum"] == 0, "sync updates are never stale")
        // 2 workers x 32 per step, less at each epoch's end (1,437 rows in 23 steps).
        let samples = try #require(first["pstrain_samples_total"])
        #expect(samples >= 62 * step && samples <= 64 * applied, "\(samples) samples in \(step)...\(applied) steps")
        #expect(try #require(first["pstrain_sent_bytes_total"]) > 0 && (first["pstrain_received_messages_total"] ?? 0) > 0)
        #expect(try #require(first["pstrain_optimizer_step_seconds_count"]) > 0)
        #expect(try #require(first["pstrain_last_checkpoint_age_seconds"]) >= 0)
        // Handling messages, not waiting for them: more than nothing, less than the server has been up.
        let busy = try #require(first["pstrain_server_busy_seconds_total"])
        #expect(busy > 0 && busy < Date().timeIntervalSince(started), "busy \(busy) s")
        let training = try Self.curl(healthURL)
        #expect(training.status == 200 && training.body.contains("\"phase\": \"training\""), "\(training)")

        let worker = try Self.scrape(workerURL, until: { ($0["pstrain_worker_steps_total"] ?? 0) >= 100 })
        let workerSteps = try #require(worker["pstrain_worker_steps_total"])
        #expect(worker["pstrain_worker_rank"] == 0 && (worker["pstrain_worker_step"] ?? 0) >= workerSteps - 1)
        // 32 rows a step, fewer at an epoch's end (718 rows in 23 steps), and a scrape may catch a step half counted.
        #expect(try #require(worker["pstrain_worker_samples_total"]) >= 30 * workerSteps)
        #expect(try #require(worker["pstrain_worker_compute_seconds_count"]) >= workerSteps - 1)
        #expect(try #require(worker["pstrain_worker_exchange_seconds_count"]) >= workerSteps - 1)
        #expect(try #require(worker["pstrain_worker_exchange_seconds_sum"]) > 0)
        let workerHealth = try Self.curl(workerURL.replacingOccurrences(of: "/metrics", with: "/healthz"))
        #expect(workerHealth.status == 200 && workerHealth.body.contains("\"phase\": \"training\""), "\(workerHealth)")

        // Kill worker 1: within the 1 s heartbeat timeout it is lost, and worker 0 trains on alone.
        workers[1].stop()
        let later = try Self.scrape(metricsURL, until: { $0["pstrain_workers{state=\"lost\"}"] == 1 })
        #expect(later["pstrain_workers{state=\"live\"}"] == 1)
        let steps = try #require(later["pstrain_updates_applied_total"])
        let after = try Self.scrape(metricsURL, until: { ($0["pstrain_updates_applied_total"] ?? 0) > steps })
        #expect(try #require(after["pstrain_step"]) >= step, "the step never goes back")
    }

    /// The server (shard 0 of several, too) and each worker serve metrics, and the launcher shows each address.
    @Test(arguments: [1, 2]) func launchServesTheMetricsOfItsServerAndWorkers(servers: Int) throws {
        let dir = PSTrainProcess.runDirectory()
        let result = try PSTrainProcess.run(["launch", "--config", "configs/digits-softmax.yaml", "--workers", "2", "--servers", "\(servers)",
                                             "--run-dir", dir, "--metrics", "0", "--worker-metrics", "0", "train.epochs=2"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("metrics on http://127.0.0.1:") }, "the launcher shows the server's: \(result.stderr)")
        let workers = (0 ..< 2).compactMap { rank in lines.first { $0.hasPrefix("worker \(rank): metrics on http://127.0.0.1:") } }
        #expect(workers.count == 2 && Set(workers.map { $0.split(separator: " ").last! }).count == 2,
                "the launcher shows each worker's own: \(result.stderr)")
    }

    /// Scrapes until `done` holds of the samples (each check a real scrape), for at most 60 s; the last samples.
    static func scrape(_ url: String, until done: ([String: Double]) -> Bool) throws -> [String: Double] {
        let deadline = Date().addingTimeInterval(60)
        while true {
            let reply = try curl(url)
            try #require(reply.status == 200, "\(reply); is the server still running? (its stderr is beside its run directory)")
            let samples = try parseExposition(reply.body)
            if done(samples) { return samples }
            try #require(Date() < deadline, "the scraped metrics never reached the expected state; last:\n\(reply.body)")
        }
    }

    /// `curl`'s status code and body for `url`.
    static func curl(_ url: String) throws -> (status: Int, body: String) {
        let result = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/bin/curl"),
                                            ["--silent", "--max-time", "10", "--write-out", "\n%{http_code}", url], timeout: 30)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// The samples of a Prometheus text exposition, by name and labels as written; fails on a malformed line.
    static func parseExposition(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            let value = try #require(parts.count == 2 ? Double(parts[1]) : nil, "malformed sample line: \(line)")
            let series = String(parts[0])
            let name = series.prefix { $0 != "{" }
            try #require(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" } && series.count > 0, "bad metric name: \(line)")
            samples[series] = value
        }
        return samples
    }
}
