import CZeroMQ

/// Waits for any of several sockets to become readable (`zmq_poll`), so one thread can serve them all.
public struct ZMQPoller {
    private let sockets: [ZMQSocket]

    public init(_ sockets: [ZMQSocket]) { self.sockets = sockets }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns, per socket, whether it has a message waiting.
    public func readable(timeoutMilliseconds: Int) throws(ZMQError) -> [Bool] {
        var items = try sockets.map { (socket) throws(ZMQError) in
            zmq_pollitem_t(socket: try socket.open("zmq_poll"), fd: -1, events: Int16(ZMQ_POLLIN), revents: 0)
        }
        let ready = try items.withUnsafeMutableBufferPointer { (buffer) throws(ZMQError) -> Int32? in
            try zmqCall("zmq_poll") { zmq_poll(buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds) }
        }
        guard ready != nil else { return sockets.map { _ in false } }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
