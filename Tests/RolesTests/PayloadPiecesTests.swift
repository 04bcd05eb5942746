import Config
import Foundation
import MetricsTestKit
import Roles
import Testing
import Transport
import Wire

/// Large float32 payloads travel in pieces (`PayloadParts`): the server takes in a push's leading parts while the
/// rest travels, and sends the updated weights piece by piece. The arithmetic is the same as for whole payloads.
@Suite struct PayloadPiecesTests {
    /// A linear model of three pieces, the last one short.
    static let features = 2 * PayloadParts.valuesPerPiece + 4093

    @Test func piecesCoverThePayloadInOrder() {
        #expect(PayloadParts.pieces(count: 10) == [0 ..< 10])
        #expect(PayloadParts.pieces(count: 2 * PayloadParts.valuesPerPiece - 1).count == 1, "below two pieces a payload goes whole")
        let count = Self.features + 1
        let pieces = PayloadParts.pieces(count: count)
        #expect(pieces.count == 3 && pieces.first!.lowerBound == 0 && pieces.last!.upperBound == count)
        #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(pieces.dropLast().allSatisfy { $0.count == PayloadParts.valuesPerPiece && $0.lowerBound % 16 == 0 })
    }

    func scriptedServer() throws -> ScriptedServer {
        try ScriptedServer { c in
            c.data.generator = .linear
            c.data.features = Self.features
            c.data.samples = 8
            c.model.kind = .linear
            c.optimizer.kind = .adam
            c.cluster.workers = 1
            c.cluster.mode = .async
        }
    }

    /// The gradient `value + index / count` for every parameter, in a frame.
    func gradient(count: Int, value: Float) -> OutboundFrame {
        let frame = OutboundFrame(count: 4 * count)
        frame.withFloats { g in for i in 0 ..< count { g[i] = value + Float(i) / Float(count) } }
        return frame
    }

    /// A push sent in parts is applied exactly as the same push sent whole, and its answer comes in parts that put
    /// together the very weights a pull returns.
    @Test func aPushInPartsIsAppliedAsAWholeOneAndAnsweredInParts() throws {
        let whole = try scriptedServer(), parted = try scriptedServer()
        var w0 = try ScriptedWorker(whole, rank: 0), w1 = try ScriptedWorker(parted, rank: 0)
        let count = whole.run.spec.layout.count
        let push = Header(kind: .push, jobID: whole.run.jobID, sender: 0, elementType: .float32, aux: 4, count: UInt64(count))
        try w0.client.send([OutboundFrame(push.encoded()), gradient(count: count, value: 0.5)])
        #expect(try w0.awaitWeights()?.version == 1)
        let client = w1.client
        try client.send(try pushInParts(push, gradient: gradient(count: count, value: 0.5)) { try client.send($0) })
        var pieces = WeightsPieces(), assembled = [Float](repeating: .nan, count: count), kinds: [MessageKind] = []
        while kinds.last != .weights {
            let received = try #require(try w1.receive(), "the answer stopped after \(kinds)")
            let place = try #require(received.header.kind == .weightsPart ? pieces.placePart(received.header, total: count)
                                                                          : pieces.placeWeights(received.header, total: count))
            assembled.replaceSubrange(place, with: received.values)
            kinds.append(received.header.kind)
        }
        #expect(kinds == [.weightsPart, .weightsPart, .weights])
        #expect(assembled == w0.weights, "weights from a push in parts differ from those of the same push whole")
        try client.send([OutboundFrame(Header(kind: .pull, jobID: parted.run.jobID, sender: 0).encoded())])
        #expect(try w1.awaitWeights()?.version == 1 && w1.weights == assembled)
    }

    /// Parts out of order, a part that leaves nothing for the push, and a push that does not complete its parts are
    /// rejected; the worker is answered with the current weights and can go on.
    @Test func partsThatDoNotFitAreRejected() throws {
        let server = try scriptedServer()
        var worker = try ScriptedWorker(server, rank: 0)
        let count = server.run.spec.layout.count, jobID = server.run.jobID
        let frame = gradient(count: count, value: 1)
        func part(at offset: Int, _ values: Int) -> [OutboundFrame] {
            [OutboundFrame(Header(kind: .pushPart, jobID: jobID, sender: 0, elementType: .float32, aux: UInt64(offset), count: UInt64(values)).encoded()),
             frame.slice(floats: offset ..< offset + values)]
        }
        try worker.client.send(part(at: 100, 10))
        #expect(server.logLines.waitFor("push part at 100 with 10 values", timeout: 10))
        try worker.client.send(part(at: 0, count))
        try worker.client.send(part(at: 0, 1000))
        let push = Header(kind: .push, jobID: jobID, sender: 0, elementType: .float32, aux: 1, count: UInt64(count - 999))
        try worker.client.send([OutboundFrame(push.encoded()), frame.slice(floats: 999 ..< count)])
        #expect(try worker.awaitWeights()?.version == 0, "an incomplete push is answered with the weights, unapplied")
        // A part at 0 starts a push afresh, whatever came before it.
        try worker.client.send(part(at: 0, 1000))
        try worker.client.send(part(at: 0, 2000))
        var completing = push
        completing.count = UInt64(count - 2000)
        try worker.client.send([OutboundFrame(completing.encoded()), frame.slice(floats: 2000 ..< count)])
        var answer = try worker.awaitWeights()
        while answer?.kind == .weightsPart { answer = try worker.awaitWeights() }
        #expect(answer?.kind == .weights && answer?.version == 1, "a push whose parts started afresh is applied")
        try worker.sendPush(gradient: 1)
        #expect(try worker.awaitWeights()?.version == 2, "after the rejects a whole push is applied")
    }

    /// Workers push a model of three pieces in parts and take the weights in parts, in sync and async mode, and train
    /// exactly as one process with their combined batch (sync) or as one worker pushing whole (async, one worker).
    @Test(arguments: [ConsistencyMode.sync, .async])
    func workersTrainALargeModelInPiecesAsOneProcessDoes(mode: ConsistencyMode) throws {
        var c = RunConfig()
        c.data.format = .synthetic
        c.data.generator = .linear
        c.data.features = Self.features
        c.data.samples = 16
        c.data.testSamples = 0
        c.data.shard = .strided
        c.model.kind = .linear
        c.optimizer.kind = .adam
        c.optimizer.lr = 0.01
        c.train.shuffle = false
        c.train.batchSize = 4
        c.cluster.workers = mode == .sync ? 2 : 1
        c.cluster.mode = mode
        let metrics = TestMetrics()
        let distributed = try InProcessCluster.run(c, monitoring: ServerMetrics(factory: metrics))
        var single = c
        single.train.batchSize = c.cluster.workers * c.train.batchSize
        let (_, reference) = try InProcessCluster.single(single)
        let pushes = distributed.summary.steps * c.cluster.workers
        #expect(try metrics.expectCounter("pstrain_received_messages_total").totalValue >= Int64(3 * pushes), "the pushes did not come in parts")
        let difference = zip(distributed.parameters, reference).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
        let size = reference.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        // Sync sums two half-batch gradients where one process takes the whole batch: rounding differs (the
        // issue's bar for sync equivalence is 1e-5). One async worker does what one process does.
        #expect(difference / size < (mode == .sync ? 1e-5 : 1e-6), "\(mode): relative difference \(difference / size)")
        #expect(distributed.rejects.isEmpty)
    }
}
