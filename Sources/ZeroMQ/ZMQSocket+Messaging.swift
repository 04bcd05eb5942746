import CZeroMQ

/// Releases a zero-copy frame's owner once libzmq has sent it: balances the `passRetained` in `send(zeroCopy:owner:)`.
private let releaseOwner: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
    if let hint { Unmanaged<AnyObject>.fromOpaque(hint).release() }
}

extension ZMQSocket {
    /// Sends one frame, copying `bytes`. Returns false when it would block (with `dontWait` or a send timeout).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let socket = try open("send")
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        return try zmqCall("send") { zmq_send(socket, bytes.baseAddress, bytes.count, flags) } != nil
    }

    /// Sends one frame, copying `bytes`.
    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let socket = try open("send")
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        return try zmqCall("send") { bytes.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) } } != nil
    }

    /// Sends `bytes` without copying them. `owner` keeps the bytes alive: libzmq retains it until its I/O thread
    /// has sent them, so the bytes must not change after this call.
    @discardableResult
    public func send(zeroCopy bytes: UnsafeRawBufferPointer, owner: AnyObject, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let socket = try open("send")
        var message = zmq_msg_t()
        // Ownership: one retain of `owner` travels with the message and is released by `releaseOwner`, either
        // when libzmq has sent it or when we close the unsent message below.
        let hint = Unmanaged<AnyObject>.passRetained(owner).toOpaque()
        let data = UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(hint))
        guard zmq_msg_init_data(&message, data, bytes.count, releaseOwner, hint) == 0 else {
            Unmanaged<AnyObject>.fromOpaque(hint).release()
            throw ZMQError.last("zmq_msg_init_data")
        }
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        do {
            // On success libzmq owns the message; on failure it is still ours to close.
            if try zmqCall("zmq_msg_send", { zmq_msg_send(&message, socket, flags) }) != nil { return true }
            zmq_msg_close(&message)
            return false
        } catch {
            zmq_msg_close(&message)
            throw error
        }
    }

    /// Receives one frame; nil when none arrived in time (with `dontWait` or a receive timeout).
    public func receive(dontWait: Bool = false) throws(ZMQError) -> ZMQMessage? {
        let socket = try open("receive")
        let frame = ZMQMessage()
        guard try zmqCall("zmq_msg_recv", { zmq_msg_recv(frame.message, socket, dontWait ? ZMQ_DONTWAIT : 0) }) != nil else { return nil }
        frame.hasMore = zmq_msg_more(frame.message) == 1
        return frame
    }

    /// Receives every frame of one multipart message; nil when none arrived in time.
    /// Once the first frame is in, the rest are already queued (libzmq delivers multipart messages whole).
    public func receiveMultipart(dontWait: Bool = false) throws(ZMQError) -> [ZMQMessage]? {
        guard let first = try receive(dontWait: dontWait) else { return nil }
        var frames = [first]
        while frames.last!.hasMore {
            guard let next = try receive() else { break }
            frames.append(next)
        }
        return frames
    }

    /// Sends `frames` as one multipart message, copying each.
    public func sendMultipart(_ frames: [[UInt8]]) throws(ZMQError) {
        for (i, frame) in frames.enumerated() { try send(frame, more: i < frames.count - 1) }
    }
}
