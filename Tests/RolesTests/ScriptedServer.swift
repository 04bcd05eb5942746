import Config
import Foundation
import Roles
import Testing
import Training
import Transport
import Wire

/// A server on a thread of its own until the test ends, for tests that play its workers message by message:
/// by default 2 workers on a small synthetic data set; `adjust` changes the config.
final class ScriptedServer: @unchecked Sendable {
    let network = InMemoryNetwork()
    let run: PreparedRun
    let stop = StopRequest()
    let finished = DispatchSemaphore(value: 0)
    let logLines = LogLines()

    init(heartbeatTimeout: Double = 3, adjust: (inout RunConfig) -> Void = { _ in }) throws {
        var c = RunConfig()
        c.data.samples = 200
        c.data.testSamples = 0
        c.data.features = 4
        c.cluster.workers = 2
        c.cluster.heartbeatInterval = min(0.5, heartbeatTimeout / 3)
        c.cluster.heartbeatTimeout = heartbeatTimeout
        adjust(&c)
        run = try PreparedRun(config: c)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-reg-\(UUID().uuidString)").path
        let directory = try RunDirectory(path: path)
        let (run, network, stop, finished, logLines) = (run, network, stop, finished, logLines)
        Thread {
            let server = ParameterServer(run: run, transport: network, directory: directory, quiet: true, stop: stop, log: logLines.add)
            _ = try? server.serve()
            finished.signal()
        }.start()
    }

    deinit {
        stop.request("test over")
        _ = finished.wait(timeout: .now() + 5)
    }

    /// Sends `header` from a new client and returns the reply's kind and text.
    func ask(_ header: Header, from client: InMemoryClient? = nil) throws -> (MessageKind, String?) {
        let client = client ?? network.connect()
        try client.send([OutboundFrame(header.encoded())])
        let frames = try #require(try client.receive(timeoutMilliseconds: 5000), "no reply")
        return try withFrameBytes(frames) { views in
            let message = try Message.decode(views, maxPayloadBytes: 1 << 20)
            return (message.header.kind, message.text)
        }
    }

    func register(rank: Int32, layoutHash: UInt64? = nil, jobID: UInt64? = nil) -> Header {
        Header(kind: .register, jobID: jobID ?? run.jobID, sender: rank, layoutHash: layoutHash ?? run.spec.layout.hash)
    }
}

/// The server's log, collected from its thread.
final class LogLines: @unchecked Sendable {
    // @unchecked: guarded by `condition`.
    private let condition = NSCondition()
    private var lines: [String] = []

    func add(_ line: String) {
        condition.withLock {
            lines.append(line)
            condition.broadcast()
        }
    }

    /// Waits up to `timeout` seconds for a line containing `text`.
    func waitFor(_ text: String, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        return condition.withLock {
            while !lines.contains(where: { $0.contains(text) }) {
                if !condition.wait(until: deadline) { return lines.contains { $0.contains(text) } }
            }
            return true
        }
    }
}
