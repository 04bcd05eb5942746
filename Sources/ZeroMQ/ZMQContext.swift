import CZeroMQ
import Glibc

/// Facts about the libzmq this process runs against.
public enum ZMQ {
    /// The library version as (major, minor, patch).
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// Whether libzmq was built with a capability, such as "curve" or "ipc".
    public static func has(_ capability: String) -> Bool { zmq_has(capability) == 1 }
}

/// An owning handle of a libzmq context, the container of a process's sockets and I/O threads.
///
/// Sockets keep their context alive; the context is terminated when the last reference goes, after every
/// socket has been closed (each socket closes itself in `deinit`).
public final class ZMQContext: @unchecked Sendable {
    // @unchecked: libzmq contexts are thread-safe; only `handle` is stored and it never changes.
    let handle: UnsafeMutableRawPointer

    /// Creates a context with `ioThreads` I/O threads (libzmq's default is 1).
    public init(ioThreads: Int = 1) throws(ZMQError) {
        guard let context = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        handle = context
        if ioThreads != 1 {
            try zmqCall("zmq_ctx_set(ZMQ_IO_THREADS)") { zmq_ctx_set(context, ZMQ_IO_THREADS, Int32(ioThreads)) }
        }
    }

    /// The number of I/O threads this context runs.
    public var ioThreads: Int { Int(zmq_ctx_get(handle, ZMQ_IO_THREADS)) }

    deinit {
        // Every socket holds a strong reference to this context, so none is open here and termination cannot hang.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// Opens a socket of `type` in this context.
    public func socket(_ type: SocketType) throws(ZMQError) -> ZMQSocket {
        try ZMQSocket(context: self, type: type)
    }
}
