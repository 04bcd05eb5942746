import Config
import Foundation
import Roles
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
        #expect(server.logLines.waitFor("worker 0 silent for", timeout: 10))
        #expect(Date().timeIntervalSince(started) >= 0.3, "reported before the timeout had passed")
        try client.send([OutboundFrame(Header(kind: .heartbeat, jobID: server.run.jobID, sender: 0).encoded())])
        #expect(server.logLines.waitFor("worker 0 is back", timeout: 10))
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
        let taken = try server.ask(server.register(rank: 1))
        #expect(taken.0 == .refuse && taken.1 == "rank 1 is already taken")
        let chosen = try server.ask(server.register(rank: -1))
        #expect(chosen.0 == .welcome && chosen.1?.contains("\"rank\":0") == true)
        let full = try server.ask(server.register(rank: -1))
        #expect(full.0 == .refuse && full.1 == "all 2 worker ranks are taken")
    }

    @Test func anotherProtocolVersionIsToldSo() throws {
        let server = try ScriptedServer()
        var bytes = server.register(rank: 0).encoded()
        bytes[4] = 2
        let client = server.network.connect()
        try client.send([OutboundFrame(bytes)])
        let frames = try #require(try client.receive(timeoutMilliseconds: 5000))
        let text = try withFrameBytes(frames) { try Message.decode($0, maxPayloadBytes: 1 << 20).text }
        #expect(text == "protocol: protocol version 2; this pstrain speaks 1: run the same pstrain release everywhere")
    }

    @Test func messagesBeforeRegisteringAreDropped() throws {
        let server = try ScriptedServer()
        let client = server.network.connect()
        try client.send([OutboundFrame(Header(kind: .pull, jobID: server.run.jobID, sender: 0).encoded())])
        #expect(try client.receive(timeoutMilliseconds: 300) == nil, "an unregistered pull gets no weights")
        let welcome = try server.ask(server.register(rank: 0), from: client)
        #expect(welcome.0 == .welcome)
        let weights = try server.ask(Header(kind: .pull, jobID: server.run.jobID, sender: 0), from: client)
        #expect(weights.0 == .weights)
    }
}
