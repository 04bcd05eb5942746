import ArgumentParser
import Foundation
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
            cluster.heartbeat_timeout) or probing (no answer yet), each with its own busy time when it answers.
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
            let address = try Self.address(of: endpoint)
            let text = try ask(address)
            guard var state = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                throw ValidationError("the server's answer is not JSON: \(text)")
            }
            if let shards = state["shards"] as? [[String: Any]] { state["shards"] = shards.map(withBusyTime) }
            if json {
                let data = try JSONSerialization.data(withJSONObject: state, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print(Self.render(state))
        } catch {
            printError("pstrain status: error: \(error)")
            throw ExitCode.failure
        }
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
        throw ValidationError("no answer from \(endpoint) within \(timeout) s\n  hint: is a pstrain server listening there? "
                              + "It prints its endpoint as \"listening on ...\" and writes it to <run>/endpoint. "
                              + "A server started with --curve-secret answers only --curve-server and --curve-secret with an allowed key")
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
                                  + "printed as \"listening on ...\", or its run directory")
        }
        return argument
    }

    /// The state as a few lines, a table of workers and, from shard 0 of several, one of the other shards.
    static func render(_ s: [String: Any]) -> String {
        func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
        /// `value` as a table cell of `width` characters, `absent` when there is none.
        func cell(_ value: Any?, _ width: Int, absent: String = "?") -> String {
            (value.map { "\($0)" } ?? absent).padding(toLength: width, withPad: " ", startingAt: 0)
        }
        func ago(_ seconds: Any?) -> String? { number(seconds).map { String(format: "%.1f s ago", $0) } }
        func busyPercent(_ busy: Any?, of uptime: Any?) -> String? {
            guard let busy = number(busy), let uptime = number(uptime), uptime > 0 else { return nil }
            return String(format: "%.0f %%", 100 * busy / uptime)
        }
        var head = "\(s["model"] ?? "?")  \(s["mode"] ?? "?")  step \(s["version"] ?? "?")/\(s["total_steps"] ?? "?")"
            + "  epoch \(s["epoch"] ?? "?")/\(s["epochs"] ?? "?")"
        if let loss = number(s["loss"]) { head += String(format: "  loss %.4f", loss) }
        if let rate = number(s["samples_per_second"]) { head += String(format: "  %.0f samples/s", rate) }
        head += String(format: "  up %.1f s", number(s["uptime_seconds"]) ?? 0)
        if let busy = busyPercent(s["busy_seconds"], of: s["uptime_seconds"]) { head += ", busy " + busy }
        var lines = [head]
        if let step = s["checkpoint_step"], let age = number(s["checkpoint_age_seconds"]) {
            lines.append(String(format: "checkpoint: step \(step), %.1f s ago", age))
        }
        lines.append("rejected messages: \(s["rejected_messages"] ?? 0)  max staleness: \(s["max_staleness"] ?? 0)")
        lines.append("rank  state         steps  last seen    shared memory")
        for worker in s["workers"] as? [[String: Any]] ?? [] {
            let shared = (worker["shared_memory"] as? Bool).map { $0 ? "yes" : "no" } ?? "-"
            lines.append("\(cell(worker["rank"], 4))  \(cell(worker["state"], 12))  \(cell(worker["steps"], 5, absent: "-"))  "
                         + "\(cell(ago(worker["last_seen_seconds"]), 11, absent: "-"))  \(shared)")
        }
        let shards = s["shards"] as? [[String: Any]] ?? []
        if !shards.isEmpty { lines.append("shard  state    step   last answer  busy   endpoint") }
        for other in shards {
            lines.append("\(cell(other["shard"], 5))  \(cell(other["state"], 7))  \(cell(other["step"], 5, absent: "-"))  "
                         + "\(cell(ago(other["last_answer_seconds"]), 11, absent: "never"))  "
                         + "\(cell(busyPercent(other["busy_seconds"], of: other["uptime_seconds"]), 5, absent: "-"))  \(other["endpoint"] ?? "?")")
        }
        return lines.joined(separator: "\n")
    }
}
