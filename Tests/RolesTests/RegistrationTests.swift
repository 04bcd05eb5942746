import Config
import Foundation
import Roles
import Synchronization
import Testing
import Training
import Transport
import Wire

/// What the server says to peers it cannot accept, over the in-memory transport.
@Suite struct RegistrationTests {
    @Test func aSilentWorkerIsReportedOnceAndItsReturnToo() throws {
        let server = try ScriptedServer(heartbeatTimeout: 0.3)
        let client = server.network.connect()
        #expect(try server.ask(server.register(rank: 0), from: client).0 == .welcome)
        let started = Date()
        #expect(server.logLines.waitFor("worker 0 lost: silent for", timeout: 10))
        #expect(Date().timeIntervalSince(started) >= 0.3, "reported before the timeout had passed")
        try client.send([OutboundFrame(Header(kind: .heartbeat, jobID: server.run.jobID, sender: 0).encoded())])
        #expect(server.logLines.waitFor("worker 0 is back", timeout: 10))
    }

    /// A worker about to register asks what the whole data set is, to read only its shard: the server tells it the
    /// facts of its own run, and refuses another job's worker as registering would.
    @Test func aWorkerAboutToRegisterIsToldTheDataFacts() throws {
        let server = try ScriptedServer()
        let (kind, text) = try server.ask(Header(kind: .dataFacts, jobID: server.run.jobID, sender: -1))
        #expect(kind == .dataFacts && text == server.run.facts.json)
        #expect(try DataFactsRequest.ask(server.network.connect(), jobID: server.run.jobID, timeout: 10, maxPayloadBytes: 1 << 20) == server.run.facts)
        let (refused, reason) = try server.ask(Header(kind: .dataFacts, jobID: server.run.jobID ^ 1, sender: -1))
        #expect(refused == .refuse && reason?.hasPrefix("this worker was started with another config than the server") == true, "\(reason ?? "")")
        do {
            _ = try DataFactsRequest.ask(server.network.connect(), jobID: server.run.jobID ^ 1, timeout: 10, maxPayloadBytes: 1 << 20)
            Issue.record("another job's worker was told the facts")
        } catch let error as WorkerError {
            #expect(!error.restartable && error.message.hasPrefix("the server refused this worker: this worker was started with another config"))
        }
    }

    /// A server restarted into a job waits `replacement_timeout` for each worker to register again. Under `continue`
    /// one that does not is lost and the sync steps go on without it; it may still come back.
    @Test func aWorkerNotBackAfterARestartIsLostUnderContinue() throws {
        let server = try ScriptedServer(resumedAtStep: 7) { c in
            c.optimizer.kind = .sgd
            c.cluster.replacementTimeout = 2
        }
        var worker0 = try ScriptedWorker(server, rank: 0)
        #expect(worker0.heldVersion == 7)
        #expect(server.logLines.waitFor("worker 1 did not register again within 2 s of the restart: training goes on without it", timeout: 10))
        try worker0.sendPush(gradient: 1)
        #expect(try worker0.awaitWeights()?.version == 8, "the step did not go on without worker 1")
        let worker1 = try ScriptedWorker(server, rank: 1)
        #expect(worker1.heldVersion == 8)
        #expect(server.logLines.waitFor("worker 1 is back at step 8", timeout: 10))
    }

    /// Under `wait`, or when no worker came back at all, a worker not back in time fails the job, saying which.
    @Test(arguments: [(WorkerFailurePolicy.wait, 1), (.continue, 0)])
    func aWorkerNotBackAfterARestartFailsTheJob(policy: WorkerFailurePolicy, returning: Int) throws {
        let server = try ScriptedServer(resumedAtStep: 7) { c in
            c.optimizer.kind = .sgd
            c.cluster.onWorkerFailure = policy
            c.cluster.replacementTimeout = 2
        }
        let returned = try (0 ..< returning).map { try ScriptedWorker(server, rank: Int32($0)) }
        #expect(server.finished.wait(timeout: .now() + 10) == .success, "the server did not give up")
        server.finished.signal()
        let failure = try #require(server.failure.value as? ServerFailure)
        let expected = returning == 0 ? "workers 0, 1 did not register again within 2 s of the restart; no worker came back"
            : "worker 1 did not register again within 2 s of the restart (cluster.on_worker_failure: wait)"
        #expect(failure.message == expected && failure.hint?.contains("--rank") == true, "\(failure)")
        #expect(returned.count == returning)
    }

    /// A registration sent to a server that was stopping is lost with it; its successor refuses the worker's
    /// heartbeats as from a stranger. The worker then registers again instead of waiting `server_timeout` for a
    /// welcome that cannot come. Here the test is the server: it drops the first registration.
    @Test func aWorkerRegistersAgainWhenItsRegistrationWasLost() throws {
        var c = ScriptedServer.smallConfig(workers: 1)
        // Far more heartbeats than the test waits for fit in the server timeout: a second registration comes from
        // the refusal, not from the worker giving up on the server and starting over.
        c.cluster.heartbeatInterval = 0.05
        c.cluster.serverTimeout = 60
        let run = try PreparedRun(config: c)
        let network = InMemoryNetwork()
        let ended = DispatchSemaphore(value: 0)
        let client = network.connect()
        Thread {
            _ = try? Worker(run: run, transports: [client], rank: 0, log: { _ in }).work()
            ended.signal()
        }.start()
        func refuse(_ refusal: Refusal, to peer: PeerID) throws {
            let text = Array("not known here".utf8)
            let header = Header(kind: .refuse, jobID: run.jobID, sender: -1, elementType: .utf8, aux: refusal.rawValue, count: UInt64(text.count))
            try network.send([OutboundFrame(header.encoded()), OutboundFrame(text)], to: peer)
        }
        func next() throws -> (PeerID, Header)? {
            guard let (peer, frames) = try network.receive(timeoutMilliseconds: 3000) else { return nil }
            return (peer, try withFrameBytes(frames) { try Message.decode($0, maxPayloadBytes: 1 << 20).header })
        }
        let (peer, first) = try #require(try next(), "the worker sent nothing")
        #expect(first.kind == .register)
        var kinds: [MessageKind] = []
        while let (_, header) = try next(), header.kind != .register {
            kinds.append(header.kind)
            if kinds.count == 1 { try refuse(.registerAgain, to: peer) }
            if kinds.count > 100 { break }
        }
        #expect(kinds.first == .heartbeat && kinds.count <= 100, "no second registration after the refusal: \(kinds.count) messages")
        try refuse(.final, to: peer)
        #expect(ended.wait(timeout: .now() + 10) == .success, "the worker did not stop")
    }

    /// A welcome for another worker count, or without the job's facts, ends the worker as one a restart cannot
    /// mend (the server would welcome it the same way), so no launcher or engine restarts it in a loop. Here the
    /// test is the server.
    @Test func aWelcomeThatDoesNotFitEndsTheWorkerForGood() throws {
        for (facts, expected) in [("{\"workers\":3,\"steps_per_epoch\":4,\"start_step\":0}", "server shard 0 runs the job for 3 workers; this worker's config has cluster.workers 1"),
                                  ("{\"workers\":1,\"steps_per_epoch\":0,\"start_step\":0}", "server shard 0's welcome lacks the job's facts")] {
            let run = try PreparedRun(config: ScriptedServer.smallConfig(workers: 1))
            let network = InMemoryNetwork()
            let client = network.connect()
            let outcome = Outcome()
            let ended = DispatchSemaphore(value: 0)
            Thread {
                let result = Result { _ = try Worker(run: run, transports: [client], rank: 0, log: { _ in }).work() }
                outcome.value.withLock { $0 = result }
                ended.signal()
            }.start()
            let (peer, frames) = try #require(try network.receive(timeoutMilliseconds: 10_000), "the worker sent nothing")
            #expect(try withFrameBytes(frames) { try Message.decode($0, maxPayloadBytes: 1 << 20).header.kind } == .register)
            let text = Array(facts.utf8)
            let welcome = Header(kind: .welcome, jobID: run.jobID, sender: -1, elementType: .utf8, aux: 0, count: UInt64(text.count),
                                 layoutHash: run.spec.layout.hash)
            try network.send([OutboundFrame(welcome.encoded()), OutboundFrame(text)], to: peer)
            #expect(ended.wait(timeout: .now() + 10) == .success, "the worker did not stop")
            let result = outcome.value.withLock { $0 }
            guard case .failure(let error as WorkerError) = result else {
                Issue.record("the worker did not fail with a WorkerError: \(String(describing: result))")
                continue
            }
            #expect(error.message.hasPrefix(expected) && !error.restartable, "\(error)")
        }
    }

    /// Sync: worker 0 pushes, then goes silent while it waits for worker 1 and is declared lost. Its push is whole
    /// and stays in the step: when worker 1 pushes, both are answered with the weights of the step that used both.
    @Test func aSyncWorkerLostAfterItsPushIsStillAnswered() throws {
        let server = try ScriptedServer(heartbeatTimeout: 0.3) { c in
            c.optimizer.kind = .sgd
            c.optimizer.lr = 0.5
        }
        var workers = try (0 ..< 2).map { try ScriptedWorker(server, rank: Int32($0)) }
        let before = workers[0].weights
        try workers[0].sendPush(gradient: 1)
        while !server.logLines.waitFor("worker 0 lost", timeout: 0.05) { try workers[1].sendHeartbeat() }
        try workers[1].sendPush(gradient: 3)
        for rank in 0 ..< 2 {
            #expect(try workers[rank].awaitWeights()?.version == 1, "worker \(rank) is answered by the step")
        }
        let moved = zip(before, workers[0].weights).map { $0 - $1 }
        #expect(!moved.isEmpty && moved.allSatisfy { abs($0 - 0.5 * 2) < 1e-5 }, "the step used the mean of 1 and 3: \(moved.prefix(3))")
    }

    /// With compression, the server takes only workers that can use it, names it in the welcome, answers a pull
    /// with whole float32 weights and every push with a change numbered from 1, which adds up to the new weights.
    @Test func compressionIsNegotiatedAndWeightChangesAreNumbered() throws {
        let server = try ScriptedServer { c in
            c.cluster.compression = .fp16
            c.cluster.workers = 1
            c.optimizer.kind = .sgd
        }
        var uncompressed = server.run.config
        uncompressed.cluster.compression = .none
        uncompressed.cluster.topkFraction = 0.5
        #expect(server.run.jobID == uncompressed.jobID, "compression is the server's choice, not part of the job id")
        let refusal = try server.ask(server.register(rank: 0))
        #expect(refusal.0 == .refuse && refusal.1?.contains("this job sends fp16 payloads (cluster.compression)") == true, "\(refusal)")
        let client = server.network.connect()
        var register = server.register(rank: 0)
        register.aux = CompressionSupport.all.rawValue
        let welcome = try server.ask(register, from: client)
        #expect(welcome.0 == .welcome && welcome.1?.contains("\"compression\":\"fp16\"") == true, "\(welcome)")
        var worker = ScriptedWorker(server, client: client, rank: 0)
        try client.send([OutboundFrame(Header(kind: .pull, jobID: server.run.jobID, sender: 0).encoded())])
        var weights = try #require(try worker.receive())
        #expect(weights.header.elementType == .float32)
        for expected in 1 ... 3 as ClosedRange<UInt64> {
            try worker.sendPush(gradient: 0.125)
            let change = try #require(try worker.receive())
            #expect(change.header.elementType == .float16 && change.header.aux == expected)
            try change.addChange(to: &weights.values)
        }
        try client.send([OutboundFrame(Header(kind: .pull, jobID: server.run.jobID, sender: 0).encoded())])
        let whole = try #require(try worker.receive())
        #expect(whole.header.elementType == .float32 && whole.header.version == 3)
        #expect(zip(whole.values, weights.values).allSatisfy { abs($0 - $1) <= 1e-3 * max(1, abs($0)) }, "the changes add up to the weights")
        try worker.sendPush(gradient: 0.125)
        #expect(try worker.receive()?.header.aux == 1, "numbering starts again after whole weights")
    }

    /// Sync with top-k: both workers hold the same weights, so each step's change is encoded once and sent to both.
    /// Then worker 0 pulls whole weights, which parts the two: from there each worker's change is its own. With
    /// every entry sent (fraction 1), each worker's weights rebuilt from the changes must match the server's.
    @Test func workersInStepShareEachEncodedChange() throws {
        let server = try ScriptedServer { c in
            c.cluster.compression = .topk
            c.cluster.topkFraction = 1
        }
        var register = server.register(rank: 0)
        register.aux = CompressionSupport.all.rawValue
        var workers: [ScriptedWorker] = [], held: [[Float]] = []
        func pull(_ rank: Int) throws -> [Float] {
            try workers[rank].client.send([OutboundFrame(Header(kind: .pull, jobID: server.run.jobID, sender: Int32(rank)).encoded())])
            return try #require(try workers[rank].receive()).values
        }
        func step(_ number: Int) throws -> [ScriptedWorker.Received] {
            for rank in 0 ..< 2 { try workers[rank].sendPush(gradient: Float(number) * 0.1 + Float(rank)) }
            let changes = try (0 ..< 2).map { try #require(try workers[$0].receive()) }
            for rank in 0 ..< 2 { try changes[rank].addChange(to: &held[rank]) }
            return changes
        }
        for rank in 0 ..< 2 as Range<Int32> {
            let client = server.network.connect()
            register.sender = rank
            #expect(try server.ask(register, from: client).0 == .welcome)
            workers.append(ScriptedWorker(server, client: client, rank: rank))
            held.append(try pull(Int(rank)))
        }
        for number in 1 ... 3 {
            let changes = try step(number)
            #expect(changes[0].payload == changes[1].payload && changes[0].header.aux == UInt64(number))
        }
        #expect(held[0] == held[1])
        func matches(_ rebuilt: [Float], _ whole: [Float]) -> Bool {
            zip(rebuilt, whole).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }
        }
        held[0] = try pull(0)
        for number in 4 ... 5 { _ = try step(number) }
        for rank in 0 ..< 2 { #expect(matches(held[rank], try pull(rank)), "worker \(rank)'s weights, rebuilt from the changes") }
    }

    @Test func refusalsSayWhatDiffers() throws {
        let server = try ScriptedServer()
        let layout = try server.ask(server.register(rank: 0, layoutHash: 42))
        #expect(layout.0 == .refuse && layout.1?.contains("model layout differs: the server trains mlp 4-128-10 relu") == true)
        let job = try server.ask(server.register(rank: 0, jobID: 7))
        #expect(job.0 == .refuse && job.1?.contains("another config than the server") == true)
        let outside = try server.ask(server.register(rank: 5))
        #expect(outside.0 == .refuse && outside.1 == "rank 5 is outside this job's 2 workers (0...1)")

        let welcome = try server.ask(server.register(rank: 1))
        #expect(welcome.0 == .welcome && welcome.1?.contains("\"rank\":1") == true)
        let chosen = try server.ask(server.register(rank: -1))
        #expect(chosen.0 == .welcome && chosen.1?.contains("\"rank\":0") == true)
        let full = try server.ask(server.register(rank: -1))
        #expect(full.0 == .refuse && full.1 == "all 2 worker ranks are taken")
    }

    /// Shard 1 of 2 tells a worker that lists the shards out of order, checks that pushes come with their norm, and
    /// answers only snapshot requests meant for it.
    @Test func aShardChecksWhatReachesIt() throws {
        let server = try ScriptedServer(shard: 1) { $0.cluster.servers = 2 }
        let misplaced = try server.ask(server.register(rank: 0, shard: 0))
        #expect(misplaced.0 == .refuse && misplaced.1?.contains("this server is shard 1 of 2; the worker addressed shard 0") == true)

        let client = server.network.connect()
        let welcome = try server.ask(server.register(rank: 0, shard: 1), from: client)
        let half = server.run.spec.layout.count / 2
        #expect(welcome.0 == .welcome && welcome.1?.contains("\"parameters\":[\(half),\(server.run.spec.layout.count)]") == true,
                "\(welcome.1 ?? "")")
        var push = Header(kind: .push, jobID: server.run.jobID, sender: 0, shard: 1, elementType: .float32, aux: 4,
                          count: UInt64(server.run.spec.layout.count - half))
        try client.send([OutboundFrame(push.encoded()), OutboundFrame(count: 4 * Int(push.count))])
        let reply = try #require(try client.receive(timeoutMilliseconds: 5000))
        #expect(try withFrameBytes(reply) { try Message.decode($0, maxPayloadBytes: 1 << 20).header.kind } == .weights)
        #expect(server.logLines.waitFor("pushed to a shard without announcing its gradient's norm", timeout: 5))

        push.shard = 0
        try client.send([OutboundFrame(push.encoded()), OutboundFrame(count: 4 * Int(push.count))])
        #expect(server.logLines.waitFor("a message for shard 0 reached shard 1", timeout: 0.5) == false, "logged once per peer, counted after")

        let snapshot = try server.ask(Header(kind: .snapshot, jobID: server.run.jobID, sender: -1, shard: 2))
        #expect(snapshot.0 == .refuse && snapshot.1?.contains("this server is shard 1, the request is for shard 2") == true)
        let slice = try server.ask(Header(kind: .snapshot, jobID: server.run.jobID, sender: -1, shard: 1))
        #expect(slice.0 == .weights)
    }

    @Test func anotherProtocolVersionIsToldSo() throws {
        let server = try ScriptedServer()
        var bytes = server.register(rank: 0).encoded()
        bytes[4] = 1
        let client = server.network.connect()
        try client.send([OutboundFrame(bytes)])
        let frames = try #require(try client.receive(timeoutMilliseconds: 5000))
        let text = try withFrameBytes(frames) { try Message.decode($0, maxPayloadBytes: 1 << 20).text }
        #expect(text == "protocol: protocol version 1; this pstrain speaks 2: run the same pstrain release everywhere")
    }

    @Test func messagesBeforeRegisteringAreAnsweredWithRegisterAgain() throws {
        let server = try ScriptedServer()
        let client = server.network.connect()
        try client.send([OutboundFrame(Header(kind: .pull, jobID: server.run.jobID, sender: 0).encoded())])
        let frames = try #require(try client.receive(timeoutMilliseconds: 5000))
        let refusal = try withFrameBytes(frames) { try Message.decode($0, maxPayloadBytes: 1 << 20).header }
        #expect(refusal.kind == .refuse && refusal.aux == Refusal.registerAgain.rawValue, "an unregistered pull gets no weights")
        let welcome = try server.ask(server.register(rank: 0), from: client)
        #expect(welcome.0 == .welcome)
        let weights = try server.ask(Header(kind: .pull, jobID: server.run.jobID, sender: 0), from: client)
        #expect(weights.0 == .weights)
    }

    /// A second worker asking for a held rank waits while the holder lives, and takes the rank once the holder
    /// is lost; the holder, back, is a stranger that must register again.
    @Test func aNewWorkerTakesTheRankOfALostOne() throws {
        let server = try ScriptedServer(heartbeatTimeout: 0.5)
        let holder = server.network.connect(), newcomer = server.network.connect()
        #expect(try server.ask(server.register(rank: 1), from: holder).0 == .welcome)
        try newcomer.send([OutboundFrame(server.register(rank: 1).encoded())])
        // The holder stays alive for a while: the newcomer gets no answer.
        for _ in 0 ..< 4 {
            #expect(try newcomer.receive(timeoutMilliseconds: 200) == nil, "admitted while the holder was alive")
            try holder.send([OutboundFrame(Header(kind: .heartbeat, jobID: server.run.jobID, sender: 1).encoded())])
        }
        // Silent now: lost after the timeout, and the newcomer is welcomed as rank 1.
        let frames = try #require(try newcomer.receive(timeoutMilliseconds: 5000), "never admitted")
        let welcome = try withFrameBytes(frames) { try Message.decode($0, maxPayloadBytes: 1 << 20) }
        #expect(welcome.header.kind == .welcome && welcome.header.aux == 1)
        #expect(server.logLines.waitFor("worker 1 lost: silent for", timeout: 1))
        #expect(server.logLines.waitFor("worker 1 rejoined at step 0", timeout: 1))
        let back = try server.ask(Header(kind: .heartbeat, jobID: server.run.jobID, sender: 1), from: holder)
        #expect(back.0 == .refuse)
    }

    /// A payload in shared memory that the server does not hold (this server never mapped the sender's segment:
    /// it restarted since) is not taken for anything: a stranger is told to register again, as for any message
    /// from one, and a registered worker's push is answered with the weights it would have been given.
    @Test func aPayloadInSharedMemoryTheServerDoesNotHoldIsTurnedAway() throws {
        let server = try ScriptedServer()
        let reference = OutboundFrame(SharedPayloadReference(slot: 0, generation: 1, byteCount: 64).encoded())
        func push(rank: Int32) -> OutboundFrame {
            OutboundFrame(Header(kind: .push, jobID: server.run.jobID, sender: rank, elementType: .float32, aux: 1, count: 16).encoded())
        }
        let stranger = server.network.connect()
        try stranger.send([reference, push(rank: 0)])
        var refusal = ScriptedWorker(server, client: stranger, rank: 0)
        let refused = try #require(try refusal.receive())
        #expect(refused.header.kind == .refuse && refused.header.aux == Refusal.registerAgain.rawValue)

        var worker = try ScriptedWorker(server, rank: 0)
        try worker.client.send([reference, push(rank: 0)])
        #expect(try worker.awaitWeights()?.kind == .weights)
        #expect(server.logLines.waitFor("worker 0's push names a payload in shared memory that this server does not hold", timeout: 5))
    }

    /// A worker on another host offers a segment the server cannot map: it is welcomed all the same, told that
    /// payloads go over the connection, and the server's log says why.
    @Test func anOfferFromAnotherHostIsDeclinedInTheWelcome() throws {
        let server = try ScriptedServer(sharedMemory: true)
        var header = server.register(rank: 1)
        let offer = SharedPayloadOffer(pid: Int32.max, fd: 3, token: String(repeating: "ab", count: 16), slotBytes: 4096)
        let text = String(decoding: try JSONSerialization.data(withJSONObject: ["shared_memory": offer.json]), as: UTF8.self)
        header.elementType = .utf8
        header.count = UInt64(text.utf8.count)
        let client = server.network.connect()
        try client.send([OutboundFrame(header.encoded()), OutboundFrame(Array(text.utf8))])
        var worker = ScriptedWorker(server, client: client, rank: 1)
        let welcome = try #require(try worker.receive())
        #expect(welcome.header.kind == .welcome)
        let facts = try JSONSerialization.jsonObject(with: Data(welcome.payload)) as? [String: Any]
        #expect(facts?["shared_memory"] as? Bool == false)
        #expect(server.logLines.waitFor("worker 1 registered (1/2), payloads over the connection (cannot map the shared memory "
                                        + "/proc/2147483647/fd/3: it is not on this host)", timeout: 5))
    }
}

/// How a worker's `work()` on another thread ended, once it has.
private final class Outcome: Sendable {
    let value = Mutex<Result<Void, any Error>?>(nil)
}
