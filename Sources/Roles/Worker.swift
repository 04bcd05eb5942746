import Config
import Data
import Foundation
import Models
import Numerics
import Optimizers
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

    /// No answer from `server` (as the message names it) at `address` for `seconds` while waiting for `what`.
    static func serverSilent(_ server: String, at address: String, seconds: Double, waitingFor what: String) -> WorkerError {
        WorkerError(message: "no answer from the \(server) at \(address) for \(Int(seconds)) s while waiting for \(what)",
                    hint: "is the server running and reachable? (cluster.server_timeout sets this limit) "
                        + "A server started with --curve-secret hears only workers with --curve-server, "
                        + "--curve-secret and a public key in its --curve-clients")
    }

    /// The server sent `shutdown` before this worker was done.
    static let jobEndedEarly = WorkerError(message: "the server ended the job before this worker was done", hint: "the server's log says why",
                                           restartable: false)
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
    /// Time spent computing gradients, and exchanging them for new weights (push to weights in hand), in seconds.
    public var computeSeconds: Double
    public var exchangeSeconds: Double
}

/// A worker: reads its shard, and loops pull → forward/backward → push until its epochs are done.
///
/// Runs on the calling thread, which alone uses the transports. It never applies an update: the servers do. With
/// several server shards it pushes each shard its slice of the gradient and assembles the weights from theirs.
public final class Worker {
    /// The job's config and model; once this worker has joined, without the data (see `trainToTheEnd`).
    public private(set) var run: PreparedRun
    /// One transport per server shard, shard 0 first.
    let transports: [ClientTransport]
    let requestedRank: Int
    let log: (String) -> Void
    let overrun: (@Sendable (String) -> Void)?
    /// Steps, samples and where each step's time went, for `--metrics`.
    let monitoring: WorkerMetrics
    let cluster: ClusterConfig
    let jobID: UInt64
    let layoutCount: Int

    /// One server: the payload frame of the last weights reply, on which the worker computes where it lies.
    var weightsFrame: (any InboundFrame)?
    /// The weights, copied: assembled from the shards' slices, or one server's when its payload is not float-aligned
    /// (libzmq keeps tiny messages inline).
    var weightsCopy: [Float] = []
    /// Per shard: the version of the slice this worker holds, and the parameters the slice covers.
    var versions: [UInt64]
    var sliceRanges: [Range<Int>] = []
    /// The version shard 0's last welcome named, against which the other shards' are checked.
    var shardZeroVersion: UInt64?
    /// The compression the servers' welcome named; with it, per shard, the encoder of the gradient slices, the
    /// number of weight changes received since the last full weights, and whether one went missing.
    var compression = GradientCompression.none
    var encoders: [PayloadEncoder] = []
    var deltasReceived: [UInt64]
    var outOfStep: Set<Int> = []
    /// Per shard: the pieces of weights that came ahead of the rest.
    var pieces: [WeightsPieces]
    /// Per shard: whether large payloads go through shared memory, whole (the server mapped this worker's segment).
    var sharedPayloads: [Bool]

    /// `rank` -1 lets the server choose. `transports` reach the server shards, in shard order.
    /// - Parameter overrun: called (from another thread) when one gradient computation runs longer than
    ///   `cluster.step_timeout`; it should end the process, which is hung. Nil: no limit.
    public init(run: PreparedRun, transports: [ClientTransport], rank: Int, overrun: (@Sendable (String) -> Void)? = nil,
                monitoring: WorkerMetrics = WorkerMetrics(), log: @escaping (String) -> Void) {
        self.run = run
        self.overrun = overrun
        self.monitoring = monitoring
        self.transports = transports
        requestedRank = rank
        self.log = log
        cluster = run.config.cluster
        jobID = run.jobID
        layoutCount = run.spec.layout.count
        versions = Array(repeating: 0, count: transports.count)
        deltasReceived = Array(repeating: 0, count: transports.count)
        pieces = Array(repeating: WeightsPieces(), count: transports.count)
        sharedPayloads = Array(repeating: false, count: transports.count)
    }

    /// A worker of a job with one server.
    public convenience init(run: PreparedRun, transport: ClientTransport, rank: Int, log: @escaping (String) -> Void) {
        self.init(run: run, transports: [transport], rank: rank, log: log)
    }

    var shards: Int { transports.count }

    /// Trains this worker's shard to the end of its epochs, then waits at the barrier until the server ends the
    /// job. When the server restarts (from a checkpoint) or replaces this worker, it registers again and goes on
    /// from the step the welcome names.
    public func work() throws -> WorkerReport {
        do {
            return try trainToTheEnd()
        } catch {
            monitoring.entered(.failed)
            throw error
        }
    }

    private func trainToTheEnd() throws -> WorkerReport {
        guard shards == cluster.servers else {
            throw WorkerError(message: "this worker was given \(shards) server endpoint(s); cluster.servers is \(cluster.servers)",
                              hint: "list every shard's endpoint, shard 0 first, separated by commas", restartable: false)
        }
        let plan: ShardPlan
        do { plan = try ShardPlan(parameterCount: layoutCount, shards: shards) } catch {
            throw WorkerError(message: error.description, restartable: false)
        }
        sliceRanges = plan.ranges
        BLAS.setThreadCount(run.config.train.blasThreads)
        // This worker holds only its shard, in shard order: it reads those rows alone from the training file or, with
        // data it holds whole, lets the rest go (as many copies as workers on one host, else). One that knows its
        // rank reads before it joins, so that the job's clock, which starts once every worker has joined, does not
        // count the reading; a requested rank is granted or refused, never changed.
        var readAhead = requestedRank >= 0 && run.readsShardAlone ? try run.takeShard(rank: requestedRank, workers: cluster.workers) : nil
        var place = try join(rank: requestedRank, plan: plan)
        let rank = place.rank
        monitoring.joined(rank: rank, step: place.startStep)
        if rank != requestedRank { readAhead = nil }
        // Its rank never changes from here. Reading a large file may take long, so heartbeats go on meanwhile.
        let data = try readAhead ?? BeatingComputation(interval: cluster.heartbeatInterval).run({ [self] in
            Result { () throws(DataError) in try run.takeShard(rank: rank, workers: cluster.workers) }
        }, beat: sendHeartbeats).get()
        log("worker \(rank): its shard: \(data.rows) of the \(run.facts.trainRows) training rows (\(run.config.data.shard.rawValue))"
            + (run.readsShardAlone ? ", the only rows it read of \(data.source)" : ""))
        let shardRows = Array(0 ..< data.rows)
        let t = run.config.train
        let network = Network<Float>(spec: run.spec)
        let totalSteps = t.epochs * place.stepsPerEpoch
        // Apart from the shard's reading: a computation it timed as short would run the first, maybe long, step
        // without heartbeats.
        let computation = BeatingComputation(interval: cluster.heartbeatInterval)
        // The gradient is computed straight into the frame that carries it (one server) or is cut into per-shard
        // frames; a frame is reused once sent.
        var gradientFrame = OutboundFrame(count: 4 * layoutCount)
        var sliceFrames = shards == 1 ? [] : plan.ranges.map { OutboundFrame(count: 4 * $0.count) }
        var batchX = [Float](repeating: 0, count: t.batchSize * data.featureCount)
        var batchY = [Float](repeating: 0, count: t.batchSize * data.targetWidth)
        var batches: (epoch: Int, ranges: [ArraySlice<Int>])?
        let watchdog = overrun.flatMap { cluster.stepTimeout > 0 ? StepWatchdog(limit: cluster.stepTimeout, overrun: $0) : nil }
        var stepsTaken = 0, samples = 0
        var computeNanosecondsInAll: UInt64 = 0, exchangeNanosecondsInAll: UInt64 = 0
        var step = place.startStep
        while true {
            do {
                while step < totalSteps {
                    let epoch = step / place.stepsPerEpoch, index = step % place.stepsPerEpoch
                    if batches?.epoch != epoch {
                        batches = (epoch, Array(EpochBatches(shardRows: shardRows, batchSize: t.batchSize, epoch: epoch, seed: t.seed, rank: rank,
                                                             shuffle: t.shuffle, dropLast: t.dropLast)))
                    }
                    var header = Header(kind: .push, jobID: jobID, sender: Int32(rank))
                    var gradient: OutboundFrame? = nil
                    var computeNanoseconds: UInt64?, batchLoss: Float?
                    // In sync mode every worker takes as many steps an epoch as the largest shard needs; a smaller
                    // shard fills up with empty pushes.
                    if let batch = batches!.ranges.dropFirst(index).first {
                        data.gather(batch, features: &batchX, targets: &batchY)
                        var dropoutRNG = SeededGenerator(seed: t.seed, streams: 0xD209, UInt64(rank), UInt64(step))
                        // With one server, through shared memory, the gradient is computed straight into a slot.
                        let slot = shards == 1 && encoders.isEmpty ? transports[0].payloadFrame(byteCount: 4 * layoutCount) : nil
                        if slot == nil && !isKnownUniquelyReferenced(&gradientFrame) { gradientFrame = OutboundFrame(count: 4 * layoutCount) }
                        let target = slot ?? gradientFrame
                        watchdog?.begin(step: step)
                        defer { watchdog?.end() }
                        let computeStart = DispatchTime.now().uptimeNanoseconds
                        let loss = try computation.run({
                            withParameters { p in
                                target.withFloats { g in
                                    network.lossAndGradient(parameters: p, inputs: batchX, targets: batchY, rows: batch.count, gradient: g, rng: &dropoutRNG)
                                }
                            }
                        }, beat: sendHeartbeats)
                        computeNanoseconds = DispatchTime.now().uptimeNanoseconds - computeStart
                        batchLoss = loss
                        header.elementType = .float32
                        header.aux = UInt64(batch.count)
                        header.value = Double(loss)
                        gradient = target
                        samples += batch.count
                    }
                    let exchangeStart = DispatchTime.now().uptimeNanoseconds
                    if shards == 1 {
                        header.version = versions[0]
                        header.count = gradient == nil ? 0 : UInt64(layoutCount)
                        if let whole = gradient, !encoders.isEmpty {
                            let (payload, count) = whole.withFloats { encoders[0].encode($0) }
                            (gradient, header.elementType, header.count) = (payload, encoders[0].elementType, UInt64(count))
                            try send(frames(header, payload: gradient), to: 0)
                        } else if let whole = gradient, sharedPayloads[0] {
                            try send(frames(header, payload: whole), to: 0)
                        } else if let whole = gradient {
                            try send(try pushInParts(header, gradient: whole) { try send($0, to: 0) }, to: 0)
                        } else {
                            try send(frames(header), to: 0)
                        }
                        let reply = try awaitReply(from: 0, accepting: [.weights])
                        try pullWhereOutOfStep()
                        // Sync runs in lockstep: the weights' version is the step every worker is on. A worker that
                        // fell behind (silent for a while) skips ahead to it.
                        step = cluster.mode == .sync ? Int(reply.header.version) : step + 1
                    } else {
                        let version = try pushToShards(header, gradient: gradient, plan: plan, slices: &sliceFrames)
                        try pullWhereOutOfStep()
                        step = cluster.mode == .sync ? Int(version) : step + 1
                    }
                    stepsTaken += 1
                    let exchangeNanoseconds = DispatchTime.now().uptimeNanoseconds - exchangeStart
                    computeNanosecondsInAll += computeNanoseconds ?? 0
                    exchangeNanosecondsInAll += exchangeNanoseconds
                    monitoring.stepTaken(next: step, samples: Int(header.aux), batchLoss: batchLoss, computeNanoseconds: computeNanoseconds,
                                         exchangeNanoseconds: exchangeNanoseconds)
                }
                monitoring.entered(.finishing)
                for k in 0 ..< shards { try send(frames(Header(kind: .barrier, jobID: jobID, sender: Int32(rank), shard: UInt16(k))), to: k) }
                for k in 0 ..< shards { _ = try awaitReply(from: k, accepting: [.shutdown]) }
                break
            } catch is RegisterAgain {
                log("worker \(rank): a server does not know this worker any more (it restarted?); registering again")
                place = try join(rank: rank, plan: plan)
                step = place.startStep
                monitoring.joined(rank: rank, step: step)
            }
        }
        let perStep = { (nanoseconds: UInt64) in String(format: "%.3f ms", Double(nanoseconds) / 1e6 / Double(max(stepsTaken, 1))) }
        log("worker \(rank): done after \(stepsTaken) steps, \(samples) samples; a step computed \(perStep(computeNanosecondsInAll)) and "
            + "exchanged \(perStep(exchangeNanosecondsInAll)) on average")
        return WorkerReport(rank: rank, steps: stepsTaken, samples: samples, finalVersion: versions.max() ?? 0, traffic: traffic,
                            computeSeconds: Double(computeNanosecondsInAll) / 1e9, exchangeSeconds: Double(exchangeNanosecondsInAll) / 1e9)
    }

    /// Pushes each shard its slice of `gradient` (announcing the whole gradient's sum of squares first), settles the
    /// global norm with the shards when they ask for it (sync), and collects every shard's weights. Returns the
    /// newest version among them: in sync mode, the step to take next.
    func pushToShards(_ push: Header, gradient: OutboundFrame?, plan: ShardPlan, slices: inout [OutboundFrame]) throws -> UInt64 {
        // Each shard's payload: its slice, as it is or encoded. Encoding leaves in the gradient what the shards will
        // decode, so the announced sum of squares is that of the gradient they apply.
        var payloads: [(frame: OutboundFrame, type: ElementType, count: Int)] = []
        var sumOfSquares = 0.0
        if let gradient {
            for k in 0 ..< shards {
                let range = plan.range(k)
                if encoders.isEmpty {
                    if !isKnownUniquelyReferenced(&slices[k]) { slices[k] = OutboundFrame(count: 4 * range.count) }
                    slices[k].withFloats { out in gradient.withFloats { _ = out.update(fromContentsOf: $0[range]) } }
                    payloads.append((slices[k], .float32, range.count))
                } else {
                    let (frame, count) = gradient.withFloats { encoders[k].encode(UnsafeMutableBufferPointer(rebasing: $0[range])) }
                    payloads.append((frame, encoders[k].elementType, count))
                }
            }
            sumOfSquares = gradient.withFloats {
                Clipping.sumOfSquaresAfterClipping(UnsafeBufferPointer($0), byValue: run.config.optimizer.clipValue)
            }
        }
        for k in 0 ..< shards {
            var header = push
            header.shard = UInt16(k)
            header.version = versions[k]
            var payload: OutboundFrame?
            if !payloads.isEmpty {
                payload = payloads[k].frame
                header.elementType = payloads[k].type
                header.count = UInt64(payloads[k].count)
                try send(frames(Header(kind: .gradientNorm, jobID: jobID, sender: push.sender, shard: UInt16(k), version: versions[k],
                                       value: sumOfSquares)), to: k)
            }
            try send(frames(header, payload: payload), to: k)
        }
        var shares: [Header?] = Array(repeating: nil, count: shards)
        for k in 0 ..< shards {
            let reply = try awaitReply(from: k, accepting: [.weights, .normShare])
            if reply.header.kind == .normShare { shares[k] = reply.header }
        }
        let asking = (0 ..< shards).filter { shares[$0] != nil }
        if !asking.isEmpty {
            // Only a worker that heard every shard knows the total; otherwise (this worker's push missed a step on
            // some shard) another worker's total completes the step, and the shards answer this one too.
            if asking.count == shards {
                let total = shares.reduce(0.0) { $0 + $1!.value }
                for k in 0 ..< shards {
                    try send(frames(Header(kind: .normTotal, jobID: jobID, sender: push.sender, shard: UInt16(k), version: shares[k]!.version,
                                           value: total)), to: k)
                }
            }
            for k in asking { _ = try awaitReply(from: k, accepting: [.weights]) }
        }
        return versions.max()!
    }

    /// Takes the weights of a `weights` message from `shard`, whose payload is `frame`: with one server kept as it
    /// is when float-aligned, else copied into place.
    func receiveWeights(_ message: Message, frame: any InboundFrame, shard: Int) throws {
        let range = sliceRanges[shard]
        if message.header.elementType != .float32 { return try receiveWeightsChange(message, shard: shard) }
        guard let place = pieces[shard].placeWeights(message.header, total: range.count), let payload = message.payload else {
            throw WorkerError(message: "server shard \(shard) sent \(message.header.count) weights at version \(message.header.version) "
                              + "that do not complete what it sent ahead; it holds \(range.count) of this model")
        }
        deltasReceived[shard] = 0
        outOfStep.remove(shard)
        // With compression the weights are changed in place by what follows, and weights in pieces are put together:
        // both are kept in a copy.
        if shards == 1 && encoders.isEmpty && place.count == range.count && Int(bitPattern: payload.baseAddress) % MemoryLayout<Float>.alignment == 0 {
            weightsFrame = frame
        } else {
            copyWeights(message, to: place, shard: shard)
        }
        versions[shard] = message.header.version
    }

    /// Takes a piece of the weights that `shard` sent ahead of the rest (`weightsPart`).
    func receiveWeightsPart(_ message: Message, shard: Int) throws {
        guard encoders.isEmpty, let place = pieces[shard].placePart(message.header, total: sliceRanges[shard].count) else {
            throw WorkerError(message: "server shard \(shard) sent weights ahead at \(message.header.aux) (\(message.header.count) values, version "
                              + "\(message.header.version)) that do not follow what it sent before")
        }
        copyWeights(message, to: place, shard: shard)
    }

    /// Copies the float32 payload of `message` to the values `place` of `shard`'s slice of the weights copy.
    func copyWeights(_ message: Message, to place: Range<Int>, shard: Int) {
        // Pieces cover the whole slice before the weights are used, so whole weights held before are not needed.
        weightsFrame = nil
        if weightsCopy.count != layoutCount { weightsCopy = [Float](repeating: 0, count: layoutCount) }
        let start = sliceRanges[shard].lowerBound + place.lowerBound
        weightsCopy.withUnsafeMutableBufferPointer { message.copyFloats(into: UnsafeMutableBufferPointer(rebasing: $0[start ..< start + place.count])) }
    }

    /// Adds a compressed weight change from `shard` to the weights, if it is the next one this worker expects; if
    /// one went missing (a lost connection), the weights are out of step and are pulled whole.
    func receiveWeightsChange(_ message: Message, shard: Int) throws {
        let range = sliceRanges[shard]
        guard !encoders.isEmpty, weightsFrame == nil, weightsCopy.count == layoutCount else {
            throw WorkerError(message: "server shard \(shard) sent a \(message.header.elementType) weight change, which this worker "
                              + "did not ask for (compression \(compression.rawValue))", restartable: false)
        }
        guard message.header.aux == deltasReceived[shard] + 1, !outOfStep.contains(shard) else {
            outOfStep.insert(shard)
            return
        }
        do {
            _ = try weightsCopy.withUnsafeMutableBufferPointer {
                try PayloadCodec.decode(message, into: UnsafeMutableBufferPointer(rebasing: $0[range]), adding: true)
            }
        } catch let error as WireError {
            throw WorkerError(message: "server shard \(shard) sent a malformed weight change: \(error)", restartable: false)
        }
        deltasReceived[shard] += 1
        versions[shard] = message.header.version
    }

    /// Takes the compression the welcome of `shard` named, making its encoder on first use. Every shard must name
    /// the same.
    func adopt(_ named: GradientCompression, fraction: Double, shard: Int, range: Range<Int>) throws {
        if shard == 0 && encoders.isEmpty {
            compression = named
            if named != cluster.compression {
                log("worker: the server's compression, \(named.rawValue), holds (this worker's config says \(cluster.compression.rawValue))")
            }
        }
        guard named == compression else {
            throw WorkerError(message: "server shard \(shard) uses compression \(named.rawValue), shard 0 \(compression.rawValue)",
                              hint: "start every server shard from the same config", restartable: false)
        }
        if named != .none && encoders.count == shard {
            encoders.append(PayloadEncoder(compression: named, fraction: fraction, count: range.count, keepsResidual: true))
        }
    }

    /// Pulls whole weights from every shard whose weight changes went out of step.
    func pullWhereOutOfStep() throws {
        for k in outOfStep.sorted() {
            log("worker: a weight change from server shard \(k) went missing; pulling the whole weights")
            try send(frames(Header(kind: .pull, jobID: jobID, sender: -1, shard: UInt16(k))), to: k)
            _ = try awaitReply(from: k, accepting: [.weights])
        }
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

    func send(_ message: [OutboundFrame], to shard: Int) throws { try transports[shard].send(message) }

    /// Bytes and messages through every shard's transport.
    var traffic: Traffic { transports.map(\.traffic).reduce(Traffic()) { $0.adding($1) } }

    /// Tells every shard this worker is alive: while it waits for a reply, and while it computes a long step.
    func sendHeartbeats() throws {
        for k in 0 ..< shards { try send(frames(Header(kind: .heartbeat, jobID: jobID, sender: -1, shard: UInt16(k))), to: k) }
    }

    /// Waits for a reply of one of `kinds` from `shard`, sending every shard heartbeats while it waits. Waiting for a
    /// welcome, `askingAgain` sends the registration again when the server says it does not know this worker.
    func awaitReply(from shard: Int, accepting kinds: Set<MessageKind>, askingAgain: (() throws -> Void)? = nil) throws -> Reply {
        var waited = 0.0
        while true {
            guard let received = try transports[shard].receive(timeoutMilliseconds: Int(cluster.heartbeatInterval * 1000)) else {
                waited += cluster.heartbeatInterval
                guard waited < cluster.serverTimeout else {
                    throw WorkerError.serverSilent(shards > 1 ? "server shard \(shard)" : "server", at: transports[shard].serverAddress,
                                                   seconds: cluster.serverTimeout, waitingFor: kinds.map { "\($0)" }.sorted().joined(separator: " or "))
                }
                try sendHeartbeats()
                continue
            }
            let reply = try withFrameBytes(received) { views -> Reply? in
                let decoded = try Message.decode(views, maxPayloadBytes: cluster.maxMessageMb << 20)
                switch decoded.header.kind {
                case let kind where kinds.contains(kind):
                    break
                case .weightsPart where kinds.contains(.weights):
                    // Taken, and the wait goes on for the rest of the weights.
                    try receiveWeightsPart(decoded, shard: shard)
                    return nil
                case .refuse where decoded.header.aux == Refusal.registerAgain.rawValue:
                    // While registering, such a refusal answers a message sent before the registration, or a heartbeat
                    // sent since, to a server that never got the registration: it went to one that was stopping, as
                    // when `launch` restarts it. So ask again; a server answers a repeated register with the same welcome.
                    if kinds.contains(.welcome) {
                        try askingAgain?()
                        return nil
                    }
                    throw RegisterAgain()
                case .refuse:
                    throw WorkerError(message: "the server\(shards > 1 ? " shard \(shard)" : "") refused this worker: \(decoded.text ?? "")",
                                      restartable: false)
                case .shutdown:
                    throw WorkerError.jobEndedEarly
                default:
                    return nil
                }
                if decoded.header.kind == .weights { try receiveWeights(decoded, frame: received[1], shard: shard) }
                return Reply(header: decoded.header, text: decoded.text)
            }
            if let reply { return reply }
        }
    }

    func frames(_ header: Header, payload: OutboundFrame? = nil) -> [OutboundFrame] { Roles.frames(header, payload: payload) }
}
