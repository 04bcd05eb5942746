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
}

/// Memory handed to libzmq for a zero-copy send: libzmq reads it from its I/O thread while sending and
/// releases it when done, so the bytes must not change after `send`. Fill it, send it, never touch it again.
public final class ZMQPayload: @unchecked Sendable {
    // @unchecked: after it is sent, only libzmq's I/O thread reads it, and nobody writes it.
    public let count: Int
    let storage: UnsafeMutableRawPointer

    /// Allocates `count` bytes, 64-byte aligned so `Float` views vectorise.
    public init(count: Int) {
        self.count = count
        storage = .allocate(byteCount: max(count, 1), alignment: 64)
    }

    /// A payload holding a copy of `bytes`.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count)
        if let base = bytes.baseAddress { storage.copyMemory(from: base, byteCount: bytes.count) }
    }

    deinit { storage.deallocate() }

    /// Writes the payload's bytes; call only before it is sent.
    public func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage, count: count))
    }
}
