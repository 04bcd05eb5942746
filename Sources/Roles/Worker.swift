import Config
import Data
import Foundation
import Models
import Numerics
import Training
import Transport
import Wire

/// Why a worker stopped early.
public struct WorkerError: Error, CustomStringConvertible {
    public var message: String
    public var hint: String?
    /// False when the job, not this process, is the problem: a restarted worker would fail the same way.
    public var restartable = true
    public var description: String { message + (hint.map { "\n  hint: \($0)" } ?? "") }
}

/// The server asked this worker to register again.
struct RegisterAgain: Error {}

/// What a worker did.
public struct WorkerReport: Sendable {
    public var rank: Int
    public var steps: Int
    public var samples: Int
    public var finalVersion: UInt64
    public var traffic: Traffic
}

/// A worker: reads its shard, and loops pull → forward/backward → push until its epochs are done.
///
/// Runs on the calling thread, which alone uses the transport. It never applies an update: the server does.
public final class Worker {
    public let run: PreparedRun
    let transport: ClientTransport
    let requestedRank: Int
    let log: (String) -> Void
    let cluster: ClusterConfig
    let jobID: UInt64
    let layoutCount: Int

    /// The payload frame of the last weights reply: the worker computes on it where it lies, copying nothing.
    var weightsFrame: (any InboundFrame)?
    /// The weights, copied, when a reply's payload is not float-aligned (libzmq keeps tiny messages inline).
    var weightsCopy: [Float] = []
    var version: UInt64 = 0

    /// `rank` -1 lets the server choose.
    public init(run: PreparedRun, transport: ClientTransport, rank: Int, log: @escaping (String) -> Void) {
        self.run = run
        self.transport = transport
        requestedRank = rank
        self.log = log
        cluster = run.config.cluster
        jobID = run.jobID
        layoutCount = run.spec.layout.count
    }

    /// Trains this worker's shard to the end of its epochs, then waits at the barrier until the server ends the
    /// job. When the server restarts (from a checkpoint) or replaces this worker, it registers again and goes on
    /// from the step the welcome names.
    public func work() throws -> WorkerReport {
        BLAS.setThreadCount(run.config.train.blasThreads)
        var place = try join(rank: requestedRank)
        let rank = place.rank
        let t = run.config.train, data = run.train
        let network = Network<Float>(spec: run.spec)
        let shard = run.shardRows(rank: rank, workers: cluster.workers)
        let totalSteps = t.epochs * place.stepsPerEpoch
        // The gradient is computed straight into the frame that carries it; the frame is reused once sent.
        var gradientFrame = OutboundFrame(count: 4 * layoutCount)
        var batchX = [Float](repeating: 0, count: t.batchSize * data.featureCount)
        var batchY = [Float](repeating: 0, count: t.batchSize * data.targetWidth)
        var batches: (epoch: Int, ranges: [ArraySlice<Int>])?
        var stepsTaken = 0, samples = 0
        var step = place.startStep
        while true {
            do {
                while step < totalSteps {
                    let epoch = step / place.stepsPerEpoch, index = step % place.stepsPerEpoch
                    if batches?.epoch != epoch {
                        batches = (epoch, Array(EpochBatches(shardRows: shard, batchSize: t.batchSize, epoch: epoch, seed: t.seed, rank: rank,
                                                             shuffle: t.shuffle, dropLast: t.dropLast)))
                    }
                    var header = Header(kind: .push, jobID: jobID, sender: Int32(rank), version: version)
                    var payload: OutboundFrame? = nil
                    // In sync mode every worker takes as many steps an epoch as the largest shard needs; a smaller
                    // shard fills up with empty pushes.
                    if let batch = batches!.ranges.dropFirst(index).first {
                        data.gather(batch, features: &batchX, targets: &batchY)
                        var dropoutRNG = SeededGenerator(seed: t.seed, streams: 0xD209, UInt64(rank), UInt64(step))
                        if !isKnownUniquelyReferenced(&gradientFrame) { gradientFrame = OutboundFrame(count: 4 * layoutCount) }
                        let loss = withParameters { p in
                            gradientFrame.withFloats { g in
                                network.lossAndGradient(parameters: p, inputs: batchX, targets: batchY, rows: batch.count, gradient: g, rng: &dropoutRNG)
                            }
                        }
                        header.elementType = .float32
                        header.count = UInt64(layoutCount)
                        header.aux = UInt64(batch.count)
                        header.value = Double(loss)
                        payload = gradientFrame
                        samples += batch.count
                    }
                    let reply = try request(frames(header, payload: payload), expecting: .weights)
                    stepsTaken += 1
                    // Sync runs in lockstep: the weights' version is the step every worker is on. A worker that
                    // fell behind (silent for a while) skips ahead to it.
                    step = cluster.mode == .sync ? Int(reply.header.version) : step + 1
                }
                _ = try request(frames(Header(kind: .barrier, jobID: jobID, sender: Int32(rank))), expecting: .shutdown)
                break
            } catch is RegisterAgain {
                log("worker \(rank): the server does not know this worker any more (it restarted?); registering again")
                place = try join(rank: rank)
                step = place.startStep
            }
        }
        log("worker \(rank): done after \(stepsTaken) steps, \(samples) samples")
        return WorkerReport(rank: rank, steps: stepsTaken, samples: samples, finalVersion: version, traffic: transport.traffic)
    }

    /// Where the server puts this worker: its rank, the steps of each epoch, and the step to start at.
    struct Place {
        var rank: Int
        var stepsPerEpoch: Int
        var startStep: Int
    }

    /// Registers (asking for `rank`, or any with -1) and pulls the current weights.
    func join(rank: Int) throws -> Place {
        let welcome = try request(frames(Header(kind: .register, jobID: jobID, sender: Int32(rank), layoutHash: run.spec.layout.hash)),
                                  expecting: .welcome)
        let assigned = Int(welcome.header.aux)
        let facts = (try? JSONSerialization.jsonObject(with: Data((welcome.text ?? "{}").utf8))) as? [String: Any] ?? [:]
        guard let workers = facts["workers"] as? Int, workers == cluster.workers, let steps = facts["steps_per_epoch"] as? Int, steps >= 1,
              let start = facts["start_step"] as? Int, start >= 0 else {
            throw WorkerError(message: "the server's welcome does not match this worker's config: \(welcome.text ?? "")")
        }
        log("worker \(assigned): registered with \(workers) workers, \(cluster.mode.rawValue) mode, starting at step \(start)")
        _ = try request(frames(Header(kind: .pull, jobID: jobID, sender: Int32(assigned))), expecting: .weights)
        return Place(rank: assigned, stepsPerEpoch: steps, startStep: start)
    }

    /// Takes the weights of a `weights` message, whose payload is `frame`: kept as it is when float-aligned.
    func receiveWeights(_ message: Message, frame: any InboundFrame) throws {
        guard message.header.count == UInt64(layoutCount), let payload = message.payload else {
            throw WorkerError(message: "the server sent \(message.header.count) weights; this model has \(layoutCount)")
        }
        if Int(bitPattern: payload.baseAddress) % MemoryLayout<Float>.alignment == 0 {
            weightsFrame = frame
        } else {
            weightsFrame = nil
            weightsCopy = [Float](repeating: 0, count: layoutCount)
            weightsCopy.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) }
        }
        version = message.header.version
    }

    /// Runs `body` on the current weights.
    func withParameters<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        guard let frame = weightsFrame else { return try weightsCopy.withUnsafeBufferPointer(body) }
        return try frame.withBytes { try $0.withMemoryRebound(to: Float.self, body) }
    }

    /// The parts of a reply kept after its frames are gone; a weights reply's payload frame is kept as `weightsFrame`.
    struct Reply {
        var header: Header
        var text: String?
    }

    /// Sends `message`, then waits for a reply of `kind`, sending heartbeats while it waits.
    func request(_ message: [OutboundFrame], expecting kind: MessageKind) throws -> Reply {
        try transport.send(message)
        var waited = 0.0
        while true {
            guard let received = try transport.receive(timeoutMilliseconds: Int(cluster.heartbeatInterval * 1000)) else {
                waited += cluster.heartbeatInterval
                guard waited < cluster.serverTimeout else {
                    throw WorkerError(message: "no answer from the server for \(Int(cluster.serverTimeout)) s while waiting for \(kind)",
                                      hint: "is the server running and reachable? (cluster.server_timeout sets this limit) "
                                          + "A server started with --curve-secret hears only workers with --curve-server, "
                                          + "--curve-secret and a public key in its --curve-clients")
                }
                try transport.send(frames(Header(kind: .heartbeat, jobID: jobID, sender: -1)))
                continue
            }
            let reply = try withFrameBytes(received) { views -> Reply? in
                let decoded = try Message.decode(views, maxPayloadBytes: cluster.maxMessageMb << 20)
                switch decoded.header.kind {
                case kind:
                    break
                case .refuse where decoded.header.aux == Refusal.registerAgain.rawValue:
                    // While registering, such a refusal answers a message sent before the registration: stale.
                    if kind == .welcome { return nil }
                    throw RegisterAgain()
                case .refuse:
                    throw WorkerError(message: "the server refused this worker: \(decoded.text ?? "")", restartable: false)
                case .shutdown:
                    throw WorkerError(message: "the server ended the job before this worker was done", hint: "the server's log says why",
                                      restartable: false)
                default:
                    return nil
                }
                if kind == .weights { try receiveWeights(decoded, frame: received[1]) }
                return Reply(header: decoded.header, text: decoded.text)
            }
            if let reply { return reply }
        }
    }

    func frames(_ header: Header, payload: OutboundFrame? = nil) -> [OutboundFrame] { Roles.frames(header, payload: payload) }
}
