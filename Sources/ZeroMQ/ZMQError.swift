import CZeroMQ
import Glibc

/// A libzmq call failed: which operation, the errno, and libzmq's own description of it.
public struct ZMQError: Error, CustomStringConvertible, Equatable {
    public let operation: String
    public let errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(String(cString: zmq_strerror(errno))) (errno \(errno))" }

    /// The error of the libzmq call that just failed.
    static func last(_ operation: String) -> ZMQError { ZMQError(operation: operation, errno: zmq_errno()) }
}

/// How a failed call is to be handled, sorted as cppzmq does.
enum CallOutcome {
    case retry
    case wouldBlock
    case failed(ZMQError)
}

/// Runs a libzmq call that returns -1 on failure: retries on EINTR; reports EAGAIN as "would block".
/// Returns the call's result, or nil when it would block.
@discardableResult
func zmqCall(_ operation: String, _ body: () -> Int32) throws(ZMQError) -> Int32? {
    while true {
        let result = body()
        if result >= 0 { return result }
        switch classify(zmq_errno(), operation) {
        case .retry: continue
        case .wouldBlock: return nil
        case .failed(let error): throw error
        }
    }
}

func classify(_ code: Int32, _ operation: String) -> CallOutcome {
    switch code {
    case EINTR: .retry
    case EAGAIN: .wouldBlock
    default: .failed(ZMQError(operation: operation, errno: code))
    }
}
