import Config
import Foundation
import Optimizers
import Roles
import Testing
import Training
import Transport
import Wire

/// A sharded job's checkpoints: shard 0 writes the whole model, collected from every shard at one sync step, and a
/// job resumed from one hands each shard its slice and ends exactly where the uninterrupted job did.
@Suite struct ShardCheckpointTests {
    func config(servers: Int, optimizer: OptimizerKind) -> RunConfig {
        var c = ShardEquivalenceTests().config(servers: servers, optimizer: optimizer)
        c.train.checkpointEvery = 20
        c.train.keepCheckpoints = 10
        return c
    }

    /// The checkpoint of `step` in the run at `directory`.
    func checkpoint(step: Int, of config: RunConfig, in directory: String) throws -> TrainingCheckpoint {
        let run = try PreparedRun(config: config)
        let path = "\(directory)/checkpoints/" + String(format: "step-%09d.safetensors", step)
        let bytes = try #require(FileManager.default.contents(atPath: path), "no checkpoint at step \(step)")
        return try TrainingCheckpoint.decode(Array(bytes), source: path, layout: run.spec.layout, jobID: run.jobID)
    }

    @Test(arguments: [(2, OptimizerKind.adam), (3, .momentum)])
    func aResumedShardedJobEndsExactlyAsTheUninterruptedOne(servers: Int, optimizer: OptimizerKind) throws {
        let config = config(servers: servers, optimizer: optimizer)
        let whole = try InProcessCluster.run(config)
        #expect(whole.summary.steps == 60)
        let middle = try checkpoint(step: 20, of: config, in: whole.directory)
        #expect(middle.step == 20 && middle.parameters.count == whole.parameters.count)
        #expect(middle.firstMoment.count == whole.parameters.count, "every shard's optimizer state is in it")
        _ = try checkpoint(step: 40, of: config, in: whole.directory)

        let resumed = try InProcessCluster.run(config, resuming: middle)
        #expect(resumed.summary.steps == 60 && resumed.summary.resumedFromStep == 20)
        let difference = ShardEquivalenceTests.relativeDifference(resumed.parameters, whole.parameters)
        let identical = resumed.parameters == whole.parameters
        #expect(identical, "resumed at step 20 and ended elsewhere: relative difference \(difference)")
        #expect(resumed.rejects.isEmpty, "\(resumed.rejects)")
    }

    /// What a server's `serve()` threw, set on its thread and read on the test's.
    final class ServeError: @unchecked Sendable {
        // @unchecked: guarded by `lock`.
        private let lock = NSLock()
        private var thrown: Error?
        func set(_ error: Error) { lock.withLock { thrown = error } }
        var error: Error? { lock.withLock { thrown } }
    }

    /// Shards 0 (unless `startShardZero` is false) and 1 of `run`, each serving on a thread of its own in `directory`,
    /// shard 0 linked to shard 1 and resumed from `checkpoint` when given (handing shard 1 its slice only if
    /// `restoring`). `stop` stops both and says whether they did within 10 s (`stopRequest` asks them without
    /// waiting); `shardZeroError` is what shard 0's serve threw, if it has.
    func serveTwoShards(_ run: PreparedRun, resuming checkpoint: TrainingCheckpoint? = nil, restoring: Bool = false,
                        startShardZero: Bool = true) throws -> (networks: [InMemoryNetwork], directory: String, stop: () -> Bool,
                                                                stopRequest: StopRequest, shardZeroError: () -> Error?) {
        let networks = [InMemoryNetwork(), InMemoryNetwork()]
        let shardZeroError = ServeError()
        let directory = try RunDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-shards-\(UUID().uuidString)").path)
        let stop = StopRequest()
        let served = DispatchGroup()
        for shard in startShardZero ? [0, 1] : [1] {
            served.enter()
            let network = networks[shard], link = networks[1]
            Thread {
                defer { served.leave() }
                let links = shard == 0 ? [ShardLink(shard: 1, transport: link.connect(), endpoint: "inproc://1")] : []
                guard let server = try? ParameterServer(run: run, transport: network, directory: directory, shard: shard, links: links,
                                                        quiet: true, stop: stop, log: { _ in }) else { return }
                if shard == 0, let checkpoint {
                    try? server.resume(from: checkpoint)
                    if restoring { try? server.restoreOtherShards() }
                }
                do { _ = try server.serve() } catch { if shard == 0 { shardZeroError.set(error) } }
            }.start()
        }
        return (networks, directory.url.path, {
            stop.request("test over")
            return served.wait(timeout: .now() + 10) == .success
        }, stop, { shardZeroError.error })
    }

    /// Sends `header` (with `values` as its payload) from `client` and returns the answer's header and payload.
    func ask(_ client: InMemoryClient, _ header: Header, _ values: [Float] = []) throws -> (header: Header, values: [Float], text: String?)? {
        let head = [OutboundFrame(header.encoded())]
        try client.send(values.isEmpty ? head : head + [values.withUnsafeBufferPointer { OutboundFrame(floats: $0) }])
        guard let reply = try client.receive(timeoutMilliseconds: 10_000) else { return nil }
        return try withFrameBytes(reply) { views in
            let message = try Message.decode(views, maxPayloadBytes: 1 << 30)
            var floats = [Float](repeating: 0, count: message.header.elementType == .float32 ? Int(message.header.count) : 0)
            floats.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) }
            return (message.header, floats, message.text)
        }
    }

    /// A worker (the job's only one) joins shards 0 and 1 of `run` and pushes each its slice of one sync step, a
    /// gradient of 0.01 everywhere announced by its sum of squares. Both answer with their share of the step's
    /// norm and wait for the total; returned are the worker's connections and the total it would send.
    func startOneStep(_ run: PreparedRun, on networks: [InMemoryNetwork]) throws -> (worker: [InMemoryClient], normTotal: Double) {
        let plan = try ShardPlan(parameterCount: run.spec.layout.count, shards: 2)
        let worker = networks.map { $0.connect() }
        var shares = 0.0
        for k in 0 ..< 2 {
            var register = Header(kind: .register, jobID: run.jobID, sender: 0, shard: UInt16(k), layoutHash: run.spec.layout.hash)
            #expect(try ask(worker[k], register)?.header.kind == .welcome)
            register.kind = .pull
            #expect(try ask(worker[k], register)?.header.version == 0)
            try worker[k].send([OutboundFrame(Header(kind: .gradientNorm, jobID: run.jobID, sender: 0, shard: UInt16(k),
                                                     value: 1e-4 * Double(run.spec.layout.count)).encoded())])
            let push = Header(kind: .push, jobID: run.jobID, sender: 0, shard: UInt16(k), elementType: .float32, aux: 4,
                              count: UInt64(plan.range(k).count), value: 1.5)
            let share = try #require(try ask(worker[k], push, [Float](repeating: 0.01, count: plan.range(k).count)))
            #expect(share.header.kind == .normShare && share.header.version == 0)
            shares += share.header.value
        }
        return (worker, shares)
    }

    /// The norm total the worker of `startOneStep` sends `shard`, and the weights that shard answers with.
    func sendNormTotal(_ total: Double, to shard: Int, from worker: [InMemoryClient], _ run: PreparedRun) throws -> (header: Header, values: [Float], text: String?)? {
        try ask(worker[shard], Header(kind: .normTotal, jobID: run.jobID, sender: 0, shard: UInt16(shard), value: total))
    }

    /// Shards 0 and 1 stopped together in sync mode, when shard 1 has taken a step whose norm total shard 0 has not
    /// read yet (the worker sends it to every shard; here shard 0's comes late): shard 0 finishes that step before it
    /// collects the checkpoint, so the checkpoint is written, at the step both reached, and holds both slices.
    @Test func shardZeroStoppedMidStepFinishesItAndCheckpointsIt() throws {
        var config = config(servers: 2, optimizer: .adam)
        config.cluster.workers = 1
        let run = try PreparedRun(config: config)
        let shards = try serveTwoShards(run)
        var stopped = false
        defer { if !stopped { _ = shards.stop() } }
        let (worker, total) = try startOneStep(run, on: shards.networks)
        let shardOne = try sendNormTotal(total, to: 1, from: worker, run)
        #expect(shardOne?.header.kind == .weights && shardOne?.header.version == 1)

        shards.stopRequest.request("test over")
        // Shard 0 checks for a stop before each message it takes: it has seen this one by the second answer.
        for _ in 0 ..< 2 {
            let answered = try ask(shards.networks[0].connect(), Header(kind: .stats, jobID: run.jobID, sender: -1))
            try #require(answered?.header.kind == .stats, "shard 0 stopped before it finished the step under way")
        }
        let shardZero = try sendNormTotal(total, to: 0, from: worker, run)
        #expect(shardZero?.header.kind == .weights && shardZero?.header.version == 1)
        stopped = true
        #expect(shards.stop(), "the servers did not stop")
        let stop = try #require(shards.shardZeroError() as? ServerStopped, "\(String(describing: shards.shardZeroError()))")
        #expect(stop.checkpointStep == 1, "\(stop)")
        let written = try checkpoint(step: 1, of: config, in: shards.directory)
        #expect(written.parameters == shardZero!.values + shardOne!.values, "the checkpoint is not both shards' step 1")
    }

    /// The same stop when no norm total comes at all (the worker was stopped too): shard 0 waits for it half the
    /// stop grace, no longer, and checkpoints the step before it, where both shards stand.
    @Test func shardZeroStoppedMidStepWaitsForItsTotalOnlyABoundedTime() throws {
        var config = config(servers: 2, optimizer: .adam)
        config.cluster.workers = 1
        config.cluster.serverTimeout = 1
        let run = try PreparedRun(config: config)
        let shards = try serveTwoShards(run)
        _ = try startOneStep(run, on: shards.networks)
        #expect(shards.stop(), "the servers did not stop")
        let stop = try #require(shards.shardZeroError() as? ServerStopped, "\(String(describing: shards.shardZeroError()))")
        #expect(stop.checkpointStep == 0, "\(stop)")
        _ = try checkpoint(step: 0, of: config, in: shards.directory)
    }

    /// A restore that does not fit the shard is refused with the reason and changes nothing; one that fits is
    /// taken, and the weights a worker then pulls are the restored ones. Shard 0 takes none.
    @Test func aShardTakesOnlyARestoreThatFitsIt() throws {
        let config = config(servers: 2, optimizer: .adam)
        let run = try PreparedRun(config: config)
        let n = try ShardPlan(parameterCount: run.spec.layout.count, shards: 2).range(1).count
        let shards = try serveTwoShards(run)
        let networks = shards.networks
        defer { #expect(shards.stop(), "the servers did not stop") }
        func stats(_ shard: Int) throws -> [String: Any] {
            let text = try #require(try ask(networks[shard].connect(), Header(kind: .stats, jobID: run.jobID, sender: -1))?.text)
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        let client = networks[1].connect()
        // Adam keeps two moments: a restore with one does not fit.
        var header = Header(kind: .restore, jobID: run.jobID, sender: -1, shard: 1, elementType: .float32, version: 7, aux: 1,
                            count: UInt64(2 * n), value: 7)
        let oneMoment = try ask(client, header, [Float](repeating: 0.5, count: 2 * n))
        #expect(oneMoment?.header.kind == .refuse && oneMoment?.text?.contains("2 moment vector(s)") == true, "\(oneMoment?.text ?? "no answer")")
        header.aux = 2
        header.count = UInt64(3 * n)
        header.value = 7.5
        #expect(try ask(client, header, [Float](repeating: 0.5, count: 3 * n))?.header.kind == .refuse, "a fractional optimizer step")
        header.value = 7
        var values = (0 ..< 3 * n).map { Float($0 % 97) / 97 }
        values[n + 1] = .nan
        #expect(try ask(client, header, values)?.header.kind == .refuse, "a state that is not finite")
        #expect(try stats(1)["version"] as? Int == 0, "a refused restore changed the shard")
        // What fits is taken, acknowledged at its step, and is what a worker pulls.
        values[n + 1] = 0
        let taken = try ask(client, header, values)
        #expect(taken?.header.kind == .restore && taken?.header.version == 7)
        let worker = networks[1].connect()
        let welcome = try ask(worker, Header(kind: .register, jobID: run.jobID, sender: 0, shard: 1, layoutHash: run.spec.layout.hash))
        #expect(welcome?.header.kind == .welcome && welcome?.header.version == 7)
        let pulled = try ask(worker, Header(kind: .pull, jobID: run.jobID, sender: 0, shard: 1))
        #expect(pulled?.header.kind == .weights && pulled?.header.version == 7 && pulled?.values == Array(values[0 ..< n]))
        // Shard 0 takes no restore (it is the one that sends them): it rejects it, unanswered.
        header.shard = 0
        let toShard0 = networks[0].connect()
        try toShard0.send([OutboundFrame(header.encoded()), values.withUnsafeBufferPointer { OutboundFrame(floats: $0) }])
        let shard0 = try stats(0)
        #expect(shard0["rejected_messages"] as? Int == 1 && shard0["version"] as? Int == 0)
        #expect(try toShard0.receive(timeoutMilliseconds: 0) == nil, "shard 0 answered a restore")
    }

    /// Only shard 0, which holds the servers' key pair, may read or set another shard's state: the same requests
    /// from a peer that authenticated with a key of its own (a worker's) are rejected unanswered and change nothing.
    @Test func aShardTakesStateRequestsOnlyFromAHolderOfTheServersKey() throws {
        let run = try PreparedRun(config: config(servers: 2, optimizer: .momentum))
        let n = try ShardPlan(parameterCount: run.spec.layout.count, shards: 2).range(1).count
        let shards = try serveTwoShards(run)
        defer { #expect(shards.stop(), "the servers did not stop") }
        let restore = Header(kind: .restore, jobID: run.jobID, sender: -1, shard: 1, elementType: .float32, version: 7, aux: 1,
                             count: UInt64(2 * n), value: 7)
        let state = [Float](repeating: 0.25, count: 2 * n)
        let snapshot = Header(kind: .snapshot, jobID: run.jobID, sender: -1, shard: 1, version: 0, aux: SnapshotScope.checkpoint.rawValue)

        let workerKeyed = shards.networks[1].connect(holdingServerKey: false)
        try workerKeyed.send([OutboundFrame(restore.encoded()), state.withUnsafeBufferPointer { OutboundFrame(floats: $0) }])
        try workerKeyed.send([OutboundFrame(snapshot.encoded())])
        let stats = try #require(try ask(shards.networks[1].connect(), Header(kind: .stats, jobID: run.jobID, sender: -1))?.text)
        let shard1 = try #require(try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any])
        #expect(shard1["rejected_messages"] as? Int == 2 && shard1["version"] as? Int == 0, "\(shard1)")
        #expect(try workerKeyed.receive(timeoutMilliseconds: 0) == nil, "a peer without the servers' key was answered")

        let serverKeyed = shards.networks[1].connect()
        #expect(try ask(serverKeyed, restore, state)?.header.version == 7)
        let answered = try ask(serverKeyed, snapshot)
        #expect(answered?.header.kind == .weights && answered?.values == state, "\(String(describing: answered?.header))")
    }

    /// Shard 0 resuming a job that wrote no checkpoint yet hands the other shards the initial model: a shard that
    /// had moved on (here: restored to step 7 by hand) is back at step 0 with its slice of the initial model.
    @Test func aResumeWithoutACheckpointSendsTheShardsBackToTheInitialModel() throws {
        let config = config(servers: 2, optimizer: .adam)
        let run = try PreparedRun(config: config)
        let shards = try serveTwoShards(run, startShardZero: false)
        defer { #expect(shards.stop(), "the servers did not stop") }
        let n = try ShardPlan(parameterCount: run.spec.layout.count, shards: 2).range(1).count
        let elsewhere = (0 ..< 3 * n).map { Float($0 % 89) / 89 }
        let moved = try ask(shards.networks[1].connect(), Header(kind: .restore, jobID: run.jobID, sender: -1, shard: 1, elementType: .float32,
                                                                  version: 7, aux: 2, count: UInt64(3 * n), value: 7), elsewhere)
        #expect(moved?.header.kind == .restore && moved?.header.version == 7)

        let directory = try RunDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-shard0-\(UUID().uuidString)").path)
        let shardZero = try ParameterServer(run: run, transport: InMemoryNetwork(), directory: directory, shard: 0,
                                            links: [ShardLink(shard: 1, transport: shards.networks[1].connect(), endpoint: "inproc://1")],
                                            quiet: true, log: { _ in })
        try shardZero.restoreOtherShards()
        let freshShardOne = try ParameterServer(run: run, transport: InMemoryNetwork(), directory: directory, shard: 1, quiet: true, log: { _ in })
        let worker = shards.networks[1].connect()
        let welcome = try ask(worker, Header(kind: .register, jobID: run.jobID, sender: 0, shard: 1, layoutHash: run.spec.layout.hash))
        #expect(welcome?.header.kind == .welcome && welcome?.header.version == 0)
        let pulled = try ask(worker, Header(kind: .pull, jobID: run.jobID, sender: 0, shard: 1))
        #expect(pulled?.header.version == 0 && pulled?.values == freshShardOne.currentParameters, "shard 1 is not back at the initial model")
    }

    /// Shard 0 writes no checkpoint while another shard is back at step 0 without its slice (restarted on its own):
    /// it would put a fresh slice into a trained model. Stopped the same way with the shard restored, it writes one.
    /// Async, where shard 0 takes each slice as it stands (sync asks for its own step, which a fresh shard never reaches).
    /// Two checks keep it out, either enough: the slice's step 0, and shard 1's answer to shard 0's probe
    /// (`ShardLostItsState`, taken while shard 0 waits for the slice).
    @Test func noCheckpointTakesInAShardThatLostItsState() throws {
        let sync = config(servers: 2, optimizer: .adam)
        let middle = try checkpoint(step: 20, of: sync, in: try InProcessCluster.run(sync).directory)
        var config = sync
        config.cluster.mode = .async
        let run = try PreparedRun(config: config)
        for restoring in [false, true] {
            let shards = try serveTwoShards(run, resuming: middle, restoring: restoring)
            // Answered from the serve loop: shard 0 has resumed (and restored shard 1, if asked) by now.
            let stats = try ask(shards.networks[0].connect(), Header(kind: .stats, jobID: run.jobID, sender: -1))
            #expect(stats?.header.kind == .stats)
            #expect(shards.stop(), "the servers did not stop")
            let written = FileManager.default.fileExists(atPath: "\(shards.directory)/checkpoints/step-000000020.safetensors")
            #expect(written == restoring, restoring ? "no checkpoint as the restored job stopped" : "a checkpoint with shard 1's fresh slice in it")
        }
    }

    /// A shard that restarted without its state (here: fresh, while shard 0 resumed at step 20 and did not hand it
    /// its slice): shard 0 finds it back at step 0 and stops, to be started again with --resume, which restores it;
    /// the worker that meets it waits for that, up to `cluster.server_timeout`, instead of training a fresh slice on.
    @Test func shardZeroStopsAndWorkersWaitAtAShardThatLostItsState() throws {
        var config = config(servers: 2, optimizer: .adam)
        let middle = try checkpoint(step: 20, of: config, in: try InProcessCluster.run(config).directory)
        config.cluster.serverTimeout = 2
        let run = try PreparedRun(config: config)
        let shards = try serveTwoShards(run, resuming: middle)
        defer { #expect(shards.stop(), "the servers did not stop") }
        let log = InProcessCluster.Lines()
        // Shard 0 is gone by the time the worker asks again; nobody starts it again here, so the worker gives up.
        #expect(throws: WorkerError.self) {
            try Worker(run: run, transports: shards.networks.map { $0.connect() }, rank: 0, log: log.add).work()
        }
        #expect(log.all.contains("worker: server shard 1 is at step 0 while shard 0 is at step 20: it started again without its state; "
                                 + "waiting for shard 0 to take every shard back to the job's latest checkpoint"), "\(log.all)")
        let lost = try #require(shards.shardZeroError() as? ShardLostItsState, "shard 0 went on: \(String(describing: shards.shardZeroError()))")
        #expect(lost.shard == 1 && lost.step == 0 && lost.shardZeroStep == 20 && lost.checkpointStep == 20, "\(lost)")
    }
}
