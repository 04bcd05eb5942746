import ArgumentParser
import Foundation
import Roles
import Training
import Transport
import Wire
import ZeroMQ
import ZMQTransport

/// `pstrain status`: a running server's live state.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running server's state: progress, speed, and each worker.",
        discussion: """
            ENDPOINT is what the server printed as "listening on ...", or its run directory, which holds it in \
            <run>/endpoint: pstrain status runs/20261123-163012. A worker is live, lost (silent for longer than \
            cluster.heartbeat_timeout), done, joining (waiting for a lost worker's rank) or unregistered. For a \
            sharded job, shard 0 also lists the other shards: live, silent (no answer to shard 0 for \
            cluster.heartbeat_timeout) or probing (no answer yet), each with its own busy time when it answers. \
            Given the run directory of a job that has completed, it shows the summary the server wrote there \
            instead of asking (with --json, summary.json's fields); a server that does not answer is named with \
            the last line of <run>/server.log. With --json, "running" tells the two apart.
            """)

    @Argument(help: ArgumentHelp("The server's endpoint, e.g. tcp://127.0.0.1:40123, or its run directory.", valueName: "endpoint"))
    var endpoint: String

    @Flag(name: .long, help: "Print the server's answer as JSON (shard 0 of several: with each other shard's busy time added).")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for an answer.", valueName: "seconds"))
    var timeout: Double = 5

    @OptionGroup var curve: CurveClientArguments

    func run() throws {
        do {
            if let (directory, summary) = Self.completedRun(at: endpoint) {
                try printCompleted(summary, in: directory)
                return
            }
            let address = try Self.address(of: endpoint)
            let text: String
            do {
                text = try ask(address)
            } catch var unanswered as NoAnswer {
                unanswered.lastLogLine = Self.lastLogLine(ofRunAt: endpoint)
                throw unanswered
            }
            guard var state = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                throw ValidationError("the server's answer is not JSON: \(text)")
            }
            if let shards = state["shards"] as? [[String: Any]] { state["shards"] = shards.map(withBusyTime) }
            if json {
                state["running"] = true
                let data = try JSONSerialization.data(withJSONObject: state, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print(StatusReport.text(state))
        } catch {
            printError("pstrain status: error: \(error)")
            throw ExitCode.failure
        }
    }

    /// Shows a completed job from its summary: as `pstrain launch` ended it, or as JSON with `"running": false`.
    func printCompleted(_ summary: TrainingSummary, in directory: String) throws {
        guard json else {
            print("\(directory): the job completed; no server runs there now.\n" + SummaryText.render(summary, directory: directory))
            return
        }
        let written = try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent("summary.json"))
        guard var fields = try JSONSerialization.jsonObject(with: written) as? [String: Any] else {
            throw ValidationError("\(directory)/summary.json is not a JSON object")
        }
        fields["running"] = false
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    /// The run directory `argument` names and its summary, when its job has completed: `summary.json` says so, and no
    /// server has listened there since it was written (a server records `<run>/endpoint` as it starts listening,
    /// and writes the summary as its job completes; one resumed there later records the endpoint again). Nil for an
    /// endpoint, a running job, or one that ended without completing.
    static func completedRun(at argument: String) -> (String, TrainingSummary)? {
        let directory = URL(fileURLWithPath: argument)
        func modified(_ name: String) -> Date? {
            (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path))?[.modificationDate] as? Date
        }
        guard !argument.contains("://"), let summaryWritten = modified("summary.json"),
              let summary = try? RunDirectory(sharing: argument).readSummary(), summary.status == "completed" else { return nil }
        if let listened = modified("endpoint"), listened > summaryWritten { return nil }
        return (argument, summary)
    }

    /// The last line of `<run>/server.log` when `argument` is a run directory that has one: what its server did last.
    static func lastLogLine(ofRunAt argument: String) -> String? {
        guard !argument.contains("://"),
              let log = try? String(contentsOf: URL(fileURLWithPath: argument).appendingPathComponent("server.log"), encoding: .utf8) else { return nil }
        return log.split(whereSeparator: \.isNewline).last.map(String.init)
    }

    /// Shard 0's view of another shard, with that shard's own uptime and busy time added when it answers (a shard
    /// found silent is not asked): in a sharded job, the busiest shard is the one that holds the workers back.
    func withBusyTime(_ shard: [String: Any]) -> [String: Any] {
        guard shard["state"] as? String != "silent", let address = shard["endpoint"] as? String,
              let text = try? ask(address, timeout: min(timeout, 2)),
              let state = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return shard }
        var shard = shard
        shard["uptime_seconds"] = state["uptime_seconds"]
        shard["busy_seconds"] = state["busy_seconds"]
        return shard
    }

    /// Sends a `stats` request to `endpoint` and returns the JSON text of the answer, within `timeout` seconds
    /// (default: `--timeout`).
    func ask(_ endpoint: String, timeout: Double? = nil) throws -> String {
        let timeout = timeout ?? self.timeout
        let context = try ZMQContext()
        let socket = try context.socket(.dealer)
        defer { socket.close() }
        if let keys = try curve.load() { try socket.useCurve(keys) }
        try socket.connect(endpoint)
        try socket.sendMultipart([Header(kind: .stats, jobID: 0, sender: -1).encoded()])
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let wait = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard try ZMQPoller([socket]).readable(timeoutMilliseconds: Int(wait))[0],
                  let frames = try socket.receiveMultipart(dontWait: true) else { continue }
            let text = try withFrameBytes(frames) { views -> String? in
                let message = try Message.decode(views, maxPayloadBytes: 16 << 20)
                return message.header.kind == .stats ? message.text : nil
            }
            if let text { return text }
        }
        throw NoAnswer(endpoint: endpoint, timeout: timeout)
    }

    /// No server answered a `stats` request in time.
    struct NoAnswer: Error, CustomStringConvertible {
        var endpoint: String
        var timeout: Double
        /// The last line of the run directory's server log, when status was given a run directory that has one.
        var lastLogLine: String?

        var description: String {
            var text = "no answer from \(endpoint) within \(timeout) s"
            if let lastLogLine { text += "\n  the run's server.log ends with: \(lastLogLine)" }
            return text + "\n  hint: is a pstrain server listening there? It prints its endpoint as \"listening on ...\" and writes it to "
                + "<run>/endpoint. A server started with --curve-secret answers only --curve-server and --curve-secret with an allowed key"
        }
    }

    /// The endpoint `argument` names: itself, or the one recorded in it when it is a server's run directory.
    static func address(of argument: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue {
            let file = URL(fileURLWithPath: argument).appendingPathComponent("endpoint")
            guard let recorded = try? String(contentsOf: file, encoding: .utf8) else {
                throw ValidationError("\(argument) has no endpoint file: a server writes <run>/endpoint in its run directory once it "
                                      + "listens (for a sharded job, shard 0's); give that directory, or the endpoint it printed")
            }
            return recorded.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard argument.contains("://") else {
            throw ValidationError("\(argument) is neither an endpoint (tcp://HOST:PORT, ipc://PATH) nor a directory: give what the server "
                                  + "printed as \"listening on ...\", or its run directory"
                                  + (EndpointArgument.tcpMeant(by: argument).map { " (did you mean \($0)?)" } ?? ""))
        }
        return argument
    }
}
