import Config
import Foundation
import Roles
import Testing
import Training
import Transport
import Wire

/// A real `Worker` against a server played message by message, to check its side of compression.
@Suite struct WorkerCompressionTests {
    /// The server played here welcomes with top-k, answers the first push with a change numbered 2 (as if 1 had been
    /// lost on the way): the worker must notice, pull whole weights, and go on. It sends sparse gradients of the
    /// agreed size throughout.
    @Test func aMissingWeightChangeMakesTheWorkerPullWholeWeights() throws {
        var c = RunConfig()
        c.data.samples = 16
        c.data.testSamples = 0
        c.data.features = 4
        c.cluster.workers = 1
        c.cluster.mode = .async
        c.train.epochs = 1
        c.train.batchSize = 8
        let run = try PreparedRun(config: c)
        let n = run.spec.layout.count, k = PayloadCodec.topKCount(of: n, fraction: 0.5)
        let network = InMemoryNetwork(), client = network.connect()
        let log = LogLines(), failure = Box<any Error>(), finished = DispatchSemaphore(value: 0)
        Thread {
            do { _ = try Worker(run: run, transport: client, rank: 0, log: log.add).work() } catch { failure.set(error) }
            finished.signal()
        }.start()

        func next(_ kind: MessageKind) throws -> (PeerID, Header) {
            let (peer, frames) = try #require(try network.receive(timeoutMilliseconds: 5000), "the worker sent nothing; expected \(kind)")
            let header = try withFrameBytes(frames) { try Message.decode($0, maxPayloadBytes: 1 << 20).header }
            try #require(header.kind == kind, "expected \(kind), got \(header.kind)")
            return (peer, header)
        }
        func weights(version: UInt64, to peer: PeerID) throws {
            let payload = OutboundFrame(count: 4 * n)
            payload.withFloats { $0.update(repeating: 0.5) }
            try network.send([OutboundFrame(Header(kind: .weights, jobID: run.jobID, sender: -1, elementType: .float32, version: version,
                                                   count: UInt64(n)).encoded()), payload], to: peer)
        }
        func change(version: UInt64, number: UInt64, to peer: PeerID) throws {
            let payload = OutboundFrame(count: 8)
            payload.withMutableBytes {
                $0.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 0, as: UInt32.self)
                $0.storeBytes(of: Float(0.25).bitPattern.littleEndian, toByteOffset: 4, as: UInt32.self)
            }
            try network.send([OutboundFrame(Header(kind: .weights, jobID: run.jobID, sender: -1, elementType: .sparseFloat32, version: version,
                                                   aux: number, count: 1).encoded()), payload], to: peer)
        }

        let (peer, register) = try next(.register)
        #expect(CompressionSupport(rawValue: register.aux) == .all)
        let facts = #"{"rank":0,"workers":1,"mode":"async","version":0,"steps_per_epoch":2,"start_step":0,"shard":0,"servers":1,"#
            + #""parameters":[0,\#(n)],"compression":"topk","topk_fraction":0.5}"#
        try network.send([OutboundFrame(Header(kind: .welcome, jobID: run.jobID, sender: -1, elementType: .utf8, count: UInt64(facts.utf8.count)).encoded()),
                          OutboundFrame(Array(facts.utf8))], to: peer)
        _ = try next(.pull)
        try weights(version: 0, to: peer)
        let push = try next(.push)
        #expect(push.1.elementType == .sparseFloat32 && push.1.count == UInt64(k), "a sparse gradient of \(k) entries")
        try change(version: 1, number: 2, to: peer)
        _ = try next(.pull)
        try weights(version: 1, to: peer)
        #expect(try next(.push).1.version == 1, "the second push is computed on the whole weights pulled")
        try change(version: 2, number: 1, to: peer)
        _ = try next(.barrier)
        try network.send([OutboundFrame(Header(kind: .shutdown, jobID: run.jobID, sender: -1).encoded())], to: peer)
        #expect(finished.wait(timeout: .now() + 10) == .success, "the worker did not finish")
        #expect(failure.value == nil, "\(failure.value.map { "\($0)" } ?? "")")
        #expect(log.waitFor("a weight change from server shard 0 went missing; pulling the whole weights", timeout: 1))
    }
}
