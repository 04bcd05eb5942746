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
    /// Why `serve()` failed, once it has.
    let failure = Box<any Error>()

    /// A server of `shard` (a shard other than 0 of a sharded job needs no links); with `resumedAtStep`, restarted
    /// into its job from a checkpoint of that step (zero weights, no optimizer moments: configure SGD).
    /// With `sharedMemory`, its transport takes shared memory segments, as `pstrain server`'s does.
    init(heartbeatTimeout: Double = 3, shard: Int = 0, monitoring: ServerMetrics = ServerMetrics(), resumedAtStep: Int? = nil,
         sharedMemory: Bool = false, adjust: (inout RunConfig) -> Void = { _ in }) throws {
        var c = Self.smallConfig(workers: 2)
        c.cluster.heartbeatInterval = min(0.5, heartbeatTimeout / 3)
        c.cluster.heartbeatTimeout = heartbeatTimeout
        adjust(&c)
        run = try PreparedRun(config: c)
        let parameterCount = run.spec.layout.count
        let checkpoint = resumedAtStep.map { step in
            TrainingCheckpoint(step: step, epoch: 0, batchInEpoch: 0, samples: step, trainSeconds: 0,
                               parameters: [Float](repeating: 0, count: parameterCount), optimizerStep: step, firstMoment: [],
                               secondMoment: [], workerSteps: Array(repeating: step, count: c.cluster.workers))
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-reg-\(UUID().uuidString)").path
        let directory = try RunDirectory(path: path)
        let (run, stop, finished, logLines, failure) = (run, stop, finished, logLines, failure)
        nonisolated(unsafe) let transport: ServerTransport = sharedMemory ? SharedPayloadServerTransport(network) : network // the server thread's alone
        Thread {
            do {
                let server = try ParameterServer(run: run, transport: transport, directory: directory, shard: shard, quiet: true, stop: stop,
                                                 monitoring: monitoring, log: logLines.add)
                if let checkpoint { try server.resume(from: checkpoint) }
                _ = try server.serve()
            } catch { failure.set(error) }
            finished.signal()
        }.start()
    }

    /// A small synthetic job for `workers` workers, as the scripted server trains by default.
    static func smallConfig(workers: Int) -> RunConfig {
        var c = RunConfig()
        c.data.samples = 200
        c.data.testSamples = 0
        c.data.features = 4
        c.cluster.workers = workers
        return c
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

    func register(rank: Int32, shard: UInt16 = 0, layoutHash: UInt64? = nil, jobID: UInt64? = nil) -> Header {
        Header(kind: .register, jobID: jobID ?? run.jobID, sender: rank, shard: shard, layoutHash: layoutHash ?? run.spec.layout.hash)
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

/// A value set on one thread and read on another.
final class Box<Value>: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var stored: Value?
    func set(_ value: Value) { lock.withLock { stored = value } }
    var value: Value? { lock.withLock { stored } }
}

/// One worker played by a test: registers with a rank and pulls, then pushes gradients it is given.
struct ScriptedWorker {
    let server: ScriptedServer
    let client: InMemoryClient
    let rank: Int32
    /// The version and values of the weights last received.
    var heldVersion: UInt64 = 0
    var weights: [Float] = []

    init(_ server: ScriptedServer, rank: Int32) throws {
        self.server = server
        self.rank = rank
        client = server.network.connect()
        #expect(try server.ask(server.register(rank: rank), from: client).0 == .welcome)
        try client.send([OutboundFrame(Header(kind: .pull, jobID: server.run.jobID, sender: rank).encoded())])
        _ = try #require(try awaitWeights())
    }

    /// A worker already registered on `client`, holding no weights yet.
    init(_ server: ScriptedServer, client: InMemoryClient, rank: Int32) {
        self.server = server
        self.rank = rank
        self.client = client
    }

    /// A message as received: its header, a float32 payload's values, and the payload's bytes.
    struct Received {
        var header: Header
        var values: [Float]
        var payload: [UInt8]

        /// Adds this compressed weight change to `weights`, as a worker does.
        func addChange(to weights: inout [Float]) throws {
            let header = self.header.encoded()
            try header.withUnsafeBytes { h in
                try payload.withUnsafeBytes { p in
                    let message = try Message.decode([h, p], maxPayloadBytes: 1 << 24)
                    _ = try weights.withUnsafeMutableBufferPointer { try PayloadCodec.decode(message, into: $0, adding: true) }
                }
            }
        }
    }

    /// The next message for this worker within `timeout` ms, nil if none; weights set the held version.
    mutating func receive(timeout: Int = 5000) throws -> Received? {
        guard let frames = try client.receive(timeoutMilliseconds: timeout) else { return nil }
        let received = try withFrameBytes(frames) { views in
            let message = try Message.decode(views, maxPayloadBytes: 1 << 24)
            var values = [Float](repeating: 0, count: message.header.elementType == .float32 ? Int(message.header.count) : 0)
            values.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) }
            return Received(header: message.header, values: values, payload: message.payload.map { Array($0) } ?? [])
        }
        if received.header.kind == .weights { heldVersion = received.header.version }
        return received
    }

    /// Pushes a gradient of `gradient` in every element, computed on the held weights from `batch` samples.
    /// Returns the payload frame sent (the server may hold it: the in-memory network passes frames as they are).
    @discardableResult
    func sendPush(gradient: Float, batch: UInt64 = 1) throws -> OutboundFrame {
        let count = server.run.spec.layout.count
        let header = Header(kind: .push, jobID: server.run.jobID, sender: rank, elementType: .float32, version: heldVersion, aux: batch,
                            count: UInt64(count))
        let payload = OutboundFrame(count: 4 * count)
        payload.withFloats { $0.update(repeating: gradient) }
        try client.send([OutboundFrame(header.encoded()), payload])
        return payload
    }

    /// Tells the server this worker is alive, as a worker waiting for an answer does.
    func sendHeartbeat() throws {
        try client.send([OutboundFrame(Header(kind: .heartbeat, jobID: server.run.jobID, sender: rank).encoded())])
    }

    /// The header of the next message for this worker within `timeout` ms, nil if none; a weights message
    /// updates the held weights.
    mutating func awaitWeights(timeout: Int = 5000) throws -> Header? {
        guard let received = try client.receive(timeoutMilliseconds: timeout) else { return nil }
        let (message, values) = try withFrameBytes(received) { views in
            let message = try Message.decode(views, maxPayloadBytes: 1 << 24)
            var values = [Float](repeating: 0, count: Int(message.header.count))
            if message.header.kind == .weights { values.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) } }
            return (message.header, values)
        }
        if message.kind == .weights {
            heldVersion = message.version
            weights = values
        }
        return message
    }
}
