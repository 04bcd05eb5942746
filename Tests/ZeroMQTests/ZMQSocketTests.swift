import Glibc
import Testing
import TestSupport
@testable import ZeroMQ

/// The libzmq wrapper over real loopback sockets on ports the OS picks.
@Suite struct ZMQSocketTests {
    /// A bound and a connected socket of the given types; the bound one on `address`.
    func pair(_ server: SocketType = .pair, _ client: SocketType = .pair, context: ZMQContext,
              address: String = "tcp://127.0.0.1:*") throws -> (ZMQSocket, ZMQSocket, String) {
        let a = try context.socket(server)
        try a.bind(address)
        let endpoint = try a.lastEndpoint
        let b = try context.socket(client)
        try b.connect(endpoint)
        for socket in [a, b] { try socket.set(.receiveTimeout(milliseconds: 5000)) }
        return (a, b, endpoint)
    }

    @Test func versionAndCapabilities() {
        #expect(ZMQ.version.major >= 4)
        #expect(ZMQ.has("curve"), "Debian's libzmq5 is built with CURVE; pstrain's security depends on it")
    }

    @Test func multipartRoundTripOverTCP() throws {
        let context = try ZMQContext()
        let (a, b, endpoint) = try pair(context: context)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:") && !endpoint.hasSuffix(":*"))
        try b.sendMultipart([[1, 2, 3], [], Array(repeating: 7, count: 100_000)])
        let frames = try #require(try a.receiveMultipart())
        #expect(frames.map(\.count) == [3, 0, 100_000])
        #expect(frames.map(\.hasMore) == [true, true, false])
        #expect(frames[0].bytes == [1, 2, 3] && frames[2].bytes.allSatisfy { $0 == 7 })
        try a.send([9])
        #expect(try b.receive()?.bytes == [9])
    }

    /// libzmq leaves IPv6 off unless asked; a context of ours asks, so an IPv6-only cluster can be served.
    @Test(.enabled(if: hostHasIPv6Loopback(), "this host has no ::1")) func ipv6AddressesBindAndConnect() throws {
        let context = try ZMQContext()
        let (a, b, endpoint) = try pair(context: context, address: "tcp://[::1]:*")
        #expect(endpoint.hasPrefix("tcp://[::1]:") && !endpoint.hasSuffix(":*"))
        try b.send([4, 2])
        #expect(try a.receive()?.bytes == [4, 2])
    }

    @Test func theHostOfAnEndpoint() {
        #expect(ZMQSocket.tcpHost(of: "tcp://127.0.0.1:*") == "127.0.0.1")
        #expect(ZMQSocket.tcpHost(of: "tcp://[::1]:5555") == "[::1]")
        #expect(ZMQSocket.tcpHost(of: "tcp://10.0.0.2:0;node1:5555") == "node1", "the destination's, after a source")
        #expect(ZMQSocket.tcpHost(of: "ipc:///tmp/x.sock") == nil)
    }

    /// `localhost`, a dual-stack name on most hosts, reaches a server on 127.0.0.1 (pstrain's default).
    @Test func localhostReachesIPv4Loopback() throws {
        let context = try ZMQContext()
        let a = try context.socket(.pair), b = try context.socket(.pair)
        try a.bind("tcp://127.0.0.1:*")
        let port = try #require(try a.lastEndpoint.split(separator: ":").last)
        try b.connect("tcp://localhost:\(port)")
        for socket in [a, b] { try socket.set(.receiveTimeout(milliseconds: 5000)) }
        try b.send([7])
        #expect(try a.receive()?.bytes == [7])
    }

    /// With IPv6 on, libzmq takes a name's IPv6 address alone, so a name with an IPv4 address keeps it off.
    @Test func ipv6IsOnlyForAddressesAndNamesThatNeedIt() {
        let dualStack: Set = ["node1", "eth0"]
        func needsIPv6(_ endpoint: String) -> Bool { ZMQSocket.mayUseIPv6(endpoint) { dualStack.contains($0) } }
        #expect(needsIPv6("tcp://[::1]:*") && needsIPv6("tcp://*:5555") && needsIPv6("tcp://v6only.example:5555"))
        #expect(!needsIPv6("tcp://127.0.0.1:*") && !needsIPv6("tcp://node1:5555") && !needsIPv6("tcp://eth0:*"))
        #expect(!needsIPv6("tcp://10.0.0.2:0;node1:5555") && !needsIPv6("ipc:///tmp/x.sock"))
        #expect(ZMQSocket.interfaceHasIPv4("lo") && !ZMQSocket.interfaceHasIPv4("no-such-interface"))
        #expect(ZMQSocket.nameResolvesToIPv4("localhost") && !ZMQSocket.nameResolvesToIPv4("no-such-host.invalid"))
    }

    /// Binding an interface by name takes its IPv4 address, as libzmq does with IPv6 off, not its IPv6 one.
    @Test func anInterfaceNameBindsItsIPv4Address() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.pull)
        try socket.bind("tcp://lo:*")
        #expect(try socket.lastEndpoint.hasPrefix("tcp://127.0.0.1:"))
    }

    @Test func nothingWaitingIsNilNotAnError() throws {
        let context = try ZMQContext()
        let (a, _, _) = try pair(context: context)
        #expect(try a.receive(dontWait: true) == nil)
        try a.set(.receiveTimeout(milliseconds: 20))
        #expect(try a.receiveMultipart() == nil)
    }

    @Test func closeIsSafeTwiceAndUseAfterCloseThrows() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.pull)
        socket.close()
        socket.close()
        #expect(throws: ZMQError(operation: "bind", errno: ENOTSOCK)) { try socket.bind("tcp://127.0.0.1:*") }
    }

    @Test func errorsCarryTheOperationAndLibzmqsText() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.pull)
        do {
            try socket.bind("tcp://no-such-interface-name:1")
            Issue.record("bind to a bad interface succeeded")
        } catch {
            #expect(error.operation == "bind tcp://no-such-interface-name:1")
            #expect(error.description.hasPrefix("bind tcp://no-such-interface-name:1: "))
            #expect(error.description.contains("(errno \(error.errno))"))
        }
        #expect(throws: ZMQError.self) { try socket.connect("nonsense://x") }
    }

    /// Owns the bytes of a zero-copy send, as pstrain's frames do.
    final class Owner {
        let values = (0 ..< 1024).map(Float.init)
    }

    @Test func zeroCopyPayloadIsDeliveredAndReleasedByLibzmq() throws {
        weak var sent: Owner?
        do {
            let context = try ZMQContext()
            let (a, b, _) = try pair(.pull, .push, context: context)
            let owner = Owner()
            sent = owner
            #expect(try owner.values.withUnsafeBytes { try b.send(zeroCopy: $0, owner: owner) })
            let frame = try #require(try a.receive())
            let values = frame.withBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(values == (0 ..< 1024).map(Float.init))
            a.close()
            b.close()
        }
        // The context has terminated, so libzmq has released every message: our retain must be gone.
        #expect(sent == nil, "libzmq did not release the zero-copy payload")
    }

    @Test func routerAddressesDealersByRoutingID() throws {
        let context = try ZMQContext()
        let (router, dealer, _) = try pair(.router, .dealer, context: context)
        _ = router
        let second = try context.socket(.dealer)
        try second.set(.routingID(Array("worker-1".utf8)))
        try second.set(.receiveTimeout(milliseconds: 5000))
        try second.connect(try router.lastEndpoint)
        try router.set(.routerMandatory(true))
        try second.send(Array("hello".utf8))
        let frames = try #require(try router.receiveMultipart())
        #expect(frames.map(\.bytes) == [Array("worker-1".utf8), Array("hello".utf8)])
        try router.sendMultipart([Array("worker-1".utf8), [42]])
        #expect(try second.receive()?.bytes == [42])
        #expect(throws: ZMQError.self, "ROUTER_MANDATORY refuses unknown peers") { try router.sendMultipart([Array("nobody".utf8), [1]]) }
        _ = dealer
    }

    @Test func oversizeMessagesAreCutAndTheLinkRecovers() throws {
        let context = try ZMQContext()
        let pull = try context.socket(.pull)
        try pull.set(.maxMessageSize(bytes: 100))
        try pull.bind("tcp://127.0.0.1:*")
        let push = try context.socket(.push)
        try push.set(.reconnectInterval(milliseconds: 10))
        try push.connect(try pull.lastEndpoint)
        try push.send([UInt8](repeating: 1, count: 1000))
        try pull.set(.receiveTimeout(milliseconds: 50))
        // The big frame kills its connection; PUSH reconnects, and small frames get through again.
        var received: [UInt8]? = nil
        for attempt in 0 ..< 200 where received == nil {
            try push.send([UInt8(attempt % 250), 0], dontWait: true)
            received = try pull.receive()?.bytes
        }
        let small = try #require(received, "no small frame arrived after the oversize one")
        #expect(small.count == 2, "the 1000-byte frame must never be delivered")
    }

    @Test func pollerReportsWhichSocketIsReadable() throws {
        let context = try ZMQContext()
        let (a1, b1, _) = try pair(.pull, .push, context: context)
        let (a2, b2, _) = try pair(.pull, .push, context: context)
        let poller = ZMQPoller([a1, a2])
        #expect(try poller.readable(timeoutMilliseconds: 0) == [false, false])
        try b2.send([1])
        #expect(try poller.readable(timeoutMilliseconds: 5000) == [false, true])
        _ = try a2.receive()
        try b1.send([2])
        #expect(try poller.readable(timeoutMilliseconds: 5000) == [true, false])
    }
}
