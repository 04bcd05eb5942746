import CZeroMQ
import Glibc

/// The socket types pstrain uses.
public enum SocketType: Sendable {
    case pair, pub, sub, req, rep, dealer, router, pull, push

    var raw: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        }
    }
}

/// Socket options, typed (cppzmq's `sockopt::`); durations are milliseconds, -1 meaning "forever".
public enum SocketOption: Sendable {
    /// How long unsent messages may delay `close()`.
    case linger(milliseconds: Int32)
    case receiveTimeout(milliseconds: Int32)
    case sendTimeout(milliseconds: Int32)
    /// Inbound messages larger than this drop the connection that sent them (-1: no limit).
    case maxMessageSize(bytes: Int64)
    case sendHighWaterMark(messages: Int32)
    case receiveHighWaterMark(messages: Int32)
    /// The identity a DEALER presents to a ROUTER.
    case routingID([UInt8])
    /// Queue messages only to completed connections.
    case immediate(Bool)
    /// A ROUTER fails a send to an unknown peer instead of dropping it silently.
    case routerMandatory(Bool)
    case reconnectInterval(milliseconds: Int32)
    case reconnectIntervalMax(milliseconds: Int32)
    case subscribe([UInt8])
    /// This socket is a CurveZMQ server: clients must know its public key (set its secret with `curveSecretKey`).
    case curveServer(Bool)
    /// This socket's own CurveZMQ keys.
    case curvePublicKey(CurveKey)
    case curveSecretKey(CurveKey)
    /// A CurveZMQ client's knowledge of the server's public key.
    case curveServerKey(CurveKey)
    /// The ZAP domain a server socket's connections are authenticated in.
    case zapDomain(String)
}

/// An owning handle of one libzmq socket.
///
/// libzmq sockets are not thread-safe: use each socket from one thread at a time (pstrain gives every socket
/// a thread of its own and hands work over with queues). `close()` is safe to call more than once.
public final class ZMQSocket: @unchecked Sendable {
    // @unchecked: may be handed to the thread that will own it; it must never be used by two threads at once.
    private(set) var handle: UnsafeMutableRawPointer?
    /// Kept so the context outlives the socket.
    let context: ZMQContext
    public let type: SocketType

    init(context: ZMQContext, type: SocketType) throws(ZMQError) {
        guard let socket = zmq_socket(context.handle, type.raw) else { throw ZMQError.last("zmq_socket") }
        self.context = context
        self.type = type
        handle = socket
    }

    deinit { close() }

    /// Closes the socket, discarding unsent messages after `linger` milliseconds (default 0). Safe twice.
    public func close(linger: Int32 = 0) {
        guard let socket = handle else { return }
        var value = linger
        _ = zmq_setsockopt(socket, ZMQ_LINGER, &value, MemoryLayout<Int32>.size)
        zmq_close(socket)
        handle = nil
    }

    func open(_ operation: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(operation: operation, errno: ENOTSOCK) }
        return handle
    }

    /// Accepts connections on `endpoint`, e.g. `tcp://127.0.0.1:*` (a free port), `tcp://[::1]:*`, `tcp://*:5555`
    /// (every interface, IPv4 and IPv6) or `ipc:///tmp/pstrain.sock`.
    public func bind(_ endpoint: String) throws(ZMQError) {
        let socket = try open("bind")
        try allowIPv6(for: endpoint, binding: true, on: socket)
        try zmqCall("bind \(endpoint)") { zmq_bind(socket, endpoint) }
    }

    /// Connects to `endpoint`; libzmq reconnects by itself when the peer goes and comes back.
    public func connect(_ endpoint: String) throws(ZMQError) {
        let socket = try open("connect")
        try allowIPv6(for: endpoint, binding: false, on: socket)
        try zmqCall("connect \(endpoint)") { zmq_connect(socket, endpoint) }
    }

    public func disconnect(_ endpoint: String) throws(ZMQError) {
        let socket = try open("disconnect")
        try zmqCall("disconnect \(endpoint)") { zmq_disconnect(socket, endpoint) }
    }

    /// The endpoint of the last bind, with the port the OS chose for `*`.
    public var lastEndpoint: String {
        get throws(ZMQError) {
            let socket = try open("getsockopt(ZMQ_LAST_ENDPOINT)")
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            try zmqCall("getsockopt(ZMQ_LAST_ENDPOINT)") { zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size) }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Sets an option.
    public func set(_ option: SocketOption) throws(ZMQError) {
        let socket = try open("setsockopt")
        func int32(_ name: Int32, _ value: Int32, _ label: String) throws(ZMQError) {
            var v = value
            try zmqCall("setsockopt(\(label))") { zmq_setsockopt(socket, name, &v, MemoryLayout<Int32>.size) }
        }
        func bytes(_ name: Int32, _ value: [UInt8], _ label: String) throws(ZMQError) {
            try zmqCall("setsockopt(\(label))") { value.withUnsafeBytes { zmq_setsockopt(socket, name, $0.baseAddress, $0.count) } }
        }
        switch option {
        case .linger(let ms): try int32(ZMQ_LINGER, ms, "ZMQ_LINGER")
        case .receiveTimeout(let ms): try int32(ZMQ_RCVTIMEO, ms, "ZMQ_RCVTIMEO")
        case .sendTimeout(let ms): try int32(ZMQ_SNDTIMEO, ms, "ZMQ_SNDTIMEO")
        case .maxMessageSize(let limit):
            var v = limit
            try zmqCall("setsockopt(ZMQ_MAXMSGSIZE)") { zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size) }
        case .sendHighWaterMark(let n): try int32(ZMQ_SNDHWM, n, "ZMQ_SNDHWM")
        case .receiveHighWaterMark(let n): try int32(ZMQ_RCVHWM, n, "ZMQ_RCVHWM")
        case .routingID(let id): try bytes(ZMQ_ROUTING_ID, id, "ZMQ_ROUTING_ID")
        case .immediate(let on): try int32(ZMQ_IMMEDIATE, on ? 1 : 0, "ZMQ_IMMEDIATE")
        case .routerMandatory(let on): try int32(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, "ZMQ_ROUTER_MANDATORY")
        case .reconnectInterval(let ms): try int32(ZMQ_RECONNECT_IVL, ms, "ZMQ_RECONNECT_IVL")
        case .reconnectIntervalMax(let ms): try int32(ZMQ_RECONNECT_IVL_MAX, ms, "ZMQ_RECONNECT_IVL_MAX")
        case .subscribe(let prefix): try bytes(ZMQ_SUBSCRIBE, prefix, "ZMQ_SUBSCRIBE")
        case .curveServer(let on): try int32(ZMQ_CURVE_SERVER, on ? 1 : 0, "ZMQ_CURVE_SERVER")
        case .curvePublicKey(let key): try bytes(ZMQ_CURVE_PUBLICKEY, key.bytes, "ZMQ_CURVE_PUBLICKEY")
        case .curveSecretKey(let key): try bytes(ZMQ_CURVE_SECRETKEY, key.bytes, "ZMQ_CURVE_SECRETKEY")
        case .curveServerKey(let key): try bytes(ZMQ_CURVE_SERVERKEY, key.bytes, "ZMQ_CURVE_SERVERKEY")
        case .zapDomain(let domain): try bytes(ZMQ_ZAP_DOMAIN, Array(domain.utf8), "ZMQ_ZAP_DOMAIN")
        }
    }
}
