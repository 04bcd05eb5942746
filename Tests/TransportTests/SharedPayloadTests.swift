import Foundation
import Glibc
import Testing
@testable import Transport

/// Payloads through a shared memory segment: the reference frame, the segment's checks, and the transports that
/// use it over the in-memory network, falling back to the connection whenever the segment cannot carry a payload.
@Suite struct SharedPayloadTests {
    let header = OutboundFrame(Array(repeating: 7, count: 64))

    func payload(_ bytes: Int, seed: UInt8) -> OutboundFrame {
        OutboundFrame((0 ..< bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) })
    }

    func bytes(_ frame: any InboundFrame) -> [UInt8] { frame.withBytes { Array($0) } }

    /// A server and a worker over the in-memory network, both wrapped, the worker's offer accepted.
    func connectedPair(slotBytes: Int = 1 << 20) throws -> (network: InMemoryNetwork, server: SharedPayloadServerTransport,
                                                            client: SharedPayloadClientTransport, peer: PeerID, raw: InMemoryClient) {
        let network = InMemoryNetwork()
        let server = SharedPayloadServerTransport(network)
        let raw = network.connect()
        let client = SharedPayloadClientTransport(raw, slotBytes: slotBytes)
        let offer = try #require(client.sharedPayloadOffer)
        try client.send([header])
        let peer = try #require(try server.receive(timeoutMilliseconds: 1000)).peer
        try server.attachSharedPayloads(offer, to: peer)
        client.sharedPayloads(accepted: true)
        return (network, server, client, peer, raw)
    }

    @Test func referenceRoundTripsAndMalformedOnesAreRefused() {
        let reference = SharedPayloadReference(slot: 3, generation: 1 << 40, byteCount: 123_456)
        let encoded = reference.encoded()
        #expect(encoded.count == SharedPayloadReference.size)
        #expect(encoded.withUnsafeBytes(SharedPayloadReference.decode) == reference)
        var reserved = encoded
        reserved[30] = 1
        var magic = encoded
        magic[0] = UInt8(ascii: "X")
        for bad in [Array(encoded.dropLast()), encoded + [0], reserved, magic] {
            #expect(bad.withUnsafeBytes(SharedPayloadReference.decode) == nil)
        }
        // A header frame never passes for a reference.
        #expect(!Array("PSTR".utf8).withUnsafeBytes(SharedPayloadReference.looksLikeReference))
    }

    @Test func anOfferIsReadOnlyWhenEveryFieldIsSound() {
        let good: [String: Any] = ["pid": 12, "fd": 5, "token": String(repeating: "0a", count: 16), "slot_bytes": 4096]
        #expect(SharedPayloadOffer(json: good) == SharedPayloadOffer(pid: 12, fd: 5, token: String(repeating: "0a", count: 16), slotBytes: 4096))
        #expect(SharedPayloadOffer(json: good)?.path == "/proc/12/fd/5")
        var variants: [[String: Any]] = []
        for (key, value) in [("pid", 0), ("pid", Int(Int32.max) + 1), ("pid", "12"), ("fd", -1), ("token", "xyz"),
                             ("token", String(repeating: "g", count: 32)), ("slot_bytes", 0),
                             ("slot_bytes", SharedPayloadSegment.maximumSlotBytes + 1)] as [(String, Any)] {
            var bad = good
            bad[key] = value
            variants.append(bad)
        }
        for key in good.keys { variants.append(good.filter { $0.key != key }) }
        for bad in variants { #expect(SharedPayloadOffer(json: bad) == nil, "\(bad)") }
        #expect(SharedPayloadOffer(json: "text") == nil)
    }

    @Test func aSegmentOpensOnlyAsTheSealedFileOfItsTokenAndSize() throws {
        let segment = try SharedPayloadSegment.create(slotBytes: 1000)
        _ = try SharedPayloadSegment.open(segment.offer)
        // Its maker cannot shrink it under the server's mapping, nor grow it.
        #expect(ftruncate(segment.offer.fd, 64) != 0 && errno == EPERM)
        #expect(ftruncate(segment.offer.fd, 1 << 30) != 0 && errno == EPERM)
        func refusal(_ offer: SharedPayloadOffer) -> String? {
            #expect(throws: SharedPayloadError.self) { try SharedPayloadSegment.open(offer) }?.description
        }
        var forged = segment.offer
        forged.token = String(repeating: "f", count: 32)
        #expect(refusal(forged)?.hasSuffix("is not the segment offered (its head or token differs)") == true)
        var resized = segment.offer
        resized.slotBytes = 2000
        #expect(refusal(resized)?.hasSuffix("it is not a shared memory file of the size offered") == true)
        var elsewhere = segment.offer
        elsewhere.fd = 100_000
        #expect(refusal(elsewhere)?.hasSuffix("it is not on this host") == true)
        // A file of the right size and head that could shrink: a plain file.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-unsealed-\(UUID().uuidString)").path
        defer { unlink(path) }
        let plain = Glibc.open(path, O_RDWR | O_CREAT, 0o600)
        defer { close(plain) }
        let head = UnsafeRawBufferPointer(start: segment.base, count: segment.byteCount)
        #expect(write(plain, head.baseAddress, head.count) == head.count)
        var unsealed = segment.offer
        unsealed.fd = plain
        #expect(refusal(unsealed)?.hasSuffix("it is not sealed against shrinking") == true)
    }

    @Test func largePayloadsGoThroughTheSegmentBothWays() throws {
        let (network, server, client, peer, _) = try connectedPair()
        let before = network.traffic
        let gradient = payload(300_000, seed: 1)
        try client.send([header, gradient])
        let (from, received) = try #require(try server.receive(timeoutMilliseconds: 1000))
        #expect(from == peer)
        #expect(received.count == 2 && bytes(received[0]) == Array(header.bytes) && bytes(received[1]) == Array(gradient.bytes))
        #expect(received[1] is SharedPayloadFrame)
        // Only the reference and the header crossed the connection; the transport still counts the payload.
        #expect(network.traffic.bytesReceived - before.bytesReceived == SharedPayloadReference.size + 64)
        #expect(server.traffic.bytesReceived - before.bytesReceived == 300_000 + 64)

        let weights = payload(200_000, seed: 2)
        try server.send([header, weights], to: peer)
        let answer = try #require(try client.receive(timeoutMilliseconds: 1000))
        #expect(answer.count == 2 && bytes(answer[0]) == Array(header.bytes) && bytes(answer[1]) == Array(weights.bytes))
        #expect(answer[1] is SharedPayloadFrame)
        #expect(client.traffic.bytesReceived >= 200_000)
    }

    @Test func aPayloadStillHeldLeavesItsSlotAloneAndTheNextGoesOverTheConnection() throws {
        let (_, server, client, peer, _) = try connectedPair()
        let sent = (0 ..< 3).map { payload(100_000, seed: UInt8($0)) }
        for weights in sent { try server.send([header, weights], to: peer) }
        var held = try (0 ..< 3).map { _ in try #require(try client.receive(timeoutMilliseconds: 1000)) }
        #expect(held.map { $0[1] is SharedPayloadFrame } == [true, true, false])
        #expect(held.map { bytes($0[1]) } == sent.map { Array($0.bytes) })
        // Releasing the first payload frees its slot for the next.
        held.removeFirst()
        try server.send([header, sent[0]], to: peer)
        let next = try #require(try client.receive(timeoutMilliseconds: 1000))
        #expect(next[1] is SharedPayloadFrame && bytes(next[1]) == Array(sent[0].bytes))
        #expect(held.count == 2)
    }

    @Test func smallPayloadsOversizePayloadsAndUnansweredOffersGoOverTheConnection() throws {
        let (_, server, client, peer, _) = try connectedPair(slotBytes: 200_000)
        for size in [100, sharedPayloadMinimumBytes - 1, 200_001] {
            try server.send([header, payload(size, seed: 3)], to: peer)
            let received = try #require(try client.receive(timeoutMilliseconds: 1000))
            #expect(!(received[1] is SharedPayloadFrame) && received[1].withBytes(\.count) == size)
        }
        let network = InMemoryNetwork()
        let unanswered = SharedPayloadClientTransport(network.connect(), slotBytes: 1 << 20)
        try unanswered.send([header, payload(100_000, seed: 4)])
        let received = try #require(try network.receive(timeoutMilliseconds: 1000))
        #expect(received.frames.count == 2 && received.frames[1].withBytes(\.count) == 100_000)
    }

    /// A server that declines the offer from the start is elsewhere: the segment's memory goes back. One that took
    /// it once may be back after a restart, and is offered it again.
    @Test func aSegmentDeclinedFromTheStartIsGivenUp() throws {
        let network = InMemoryNetwork()
        let declined = SharedPayloadClientTransport(network.connect(), slotBytes: 1 << 20)
        #expect(declined.sharedPayloadOffer != nil)
        declined.sharedPayloads(accepted: false)
        #expect(declined.sharedPayloadOffer == nil)
        let (_, _, client, _, _) = try connectedPair()
        client.sharedPayloads(accepted: false)
        #expect(client.sharedPayloadOffer != nil && client.payloadFrame(byteCount: 100_000) == nil)
    }

    @Test func aReferenceTheSegmentDoesNotHoldIsPassedOnAsItCame() throws {
        let (network, server, client, peer, raw) = try connectedPair()
        try client.send([header, payload(100_000, seed: 5)])
        _ = try #require(try server.receive(timeoutMilliseconds: 1000))
        try client.send([header, payload(100_000, seed: 6)])
        let held = try #require(try server.receive(timeoutMilliseconds: 1000))
        try server.send([header, payload(100_000, seed: 7)], to: peer)
        let heldByWorker = try #require(try client.receive(timeoutMilliseconds: 1000))
        // From the worker with the segment, each wrong in one way only: slot 0's payload again once it was
        // released (stale); the live slot 1 at a size past the slot's; the live slot 2, which carries payloads the
        // other way.
        let stale = SharedPayloadReference(slot: 0, generation: 1, byteCount: 100_000)
        let oversize = SharedPayloadReference(slot: 1, generation: 1, byteCount: 1 << 30)
        let misdirected = SharedPayloadReference(slot: 2, generation: 1, byteCount: 100_000)
        // From a peer without a segment, a reference that is sound for the worker's.
        let unattached = SharedPayloadReference(slot: 1, generation: 1, byteCount: 100_000)
        for (sender, reference) in [(raw, stale), (raw, oversize), (raw, misdirected), (network.connect(), unattached)] {
            try sender.send([OutboundFrame(reference.encoded()), header])
            let (_, frames) = try #require(try server.receive(timeoutMilliseconds: 1000))
            #expect(frames.count == 2 && frames[0].withBytes(SharedPayloadReference.decode) == reference)
        }
        #expect(held.frames[1] is SharedPayloadFrame && heldByWorker[1] is SharedPayloadFrame)
    }

    @Test func aPayloadFilledInItsSlotGoesWithoutACopy() throws {
        let (network, server, client, _, _) = try connectedPair()
        let frame = try #require(client.payloadFrame(byteCount: 100_000))
        frame.withMutableBytes { for i in $0.indices { $0[i] = UInt8(truncatingIfNeeded: i &* 7) } }
        let before = network.traffic
        try client.send([header, frame])
        let (_, received) = try #require(try server.receive(timeoutMilliseconds: 1000))
        #expect(received[1] is SharedPayloadFrame && bytes(received[1]) == Array(frame.bytes))
        #expect(network.traffic.bytesReceived - before.bytesReceived == SharedPayloadReference.size + 64)
        #expect(client.traffic.bytesSent >= 100_000)
    }

    @Test func aLentSlotIsKeptFromOtherPayloadsUntilItsFrameIsSentOrDropped() throws {
        let (_, server, client, _, _) = try connectedPair()
        var lent: OutboundFrame? = try #require(client.payloadFrame(byteCount: 100_000))
        // The other slot takes a copied payload, which the server holds; no slot is left to lend.
        try client.send([header, payload(100_000, seed: 8)])
        var held: (peer: PeerID, frames: [any InboundFrame])? = try #require(try server.receive(timeoutMilliseconds: 1000))
        #expect(held?.frames[1] is SharedPayloadFrame)
        #expect(client.payloadFrame(byteCount: 100_000) == nil)
        // Dropped unsent, the lent frame gives its slot back; released, the server's gives the other.
        lent = nil
        #expect(client.payloadFrame(byteCount: 100_000) != nil)
        held = nil
        let first = try #require(client.payloadFrame(byteCount: 100_000)), second = try #require(client.payloadFrame(byteCount: 100_000))
        #expect(first.bytes.baseAddress != second.bytes.baseAddress)
        #expect(lent == nil && held == nil)
    }

    @Test func nothingIsLentBeforeTheServerAcceptsNorForSmallPayloads() throws {
        let network = InMemoryNetwork()
        let client = SharedPayloadClientTransport(network.connect(), slotBytes: 1 << 20)
        #expect(client.payloadFrame(byteCount: 100_000) == nil)
        client.sharedPayloads(accepted: true)
        #expect(client.payloadFrame(byteCount: sharedPayloadMinimumBytes - 1) == nil)
        #expect(client.payloadFrame(byteCount: 2 << 20) == nil)
        #expect(client.payloadFrame(byteCount: 100_000) != nil)
    }
}
