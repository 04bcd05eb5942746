import CZeroMQ

/// A received frame, owning its libzmq message; its bytes stay valid for the message's lifetime.
public final class ZMQMessage {
    let message: UnsafeMutablePointer<zmq_msg_t>
    /// Whether more frames of the same multipart message follow.
    public internal(set) var hasMore = false

    init() {
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
    }

    deinit {
        zmq_msg_close(message)
        message.deallocate()
    }

    /// The frame's size in bytes.
    public var count: Int { zmq_msg_size(message) }

    /// Reads the frame's bytes without copying them.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(message), count: count))
    }

    /// A copy of the frame's bytes.
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// A metadata property of the connection the frame came in on (`zmq_msg_gets`), such as "User-Id", the name
    /// the ZAP handler gave the peer; nil when the connection has none.
    public func property(_ name: String) -> String? {
        zmq_msg_gets(message, name).map { String(cString: $0) }
    }
}
