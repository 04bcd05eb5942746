import Foundation

/// A request, from any thread or a signal handler's queue, that a role stop at its next turn.
public final class StopRequest: @unchecked Sendable {
    // @unchecked: `reason` is guarded by `lock`.
    private let lock = NSLock()
    private var reason: String?

    public init() {}

    /// Asks for a stop; the first reason given is kept.
    public func request(_ why: String) { lock.withLock { reason = reason ?? why } }

    /// The reason, once a stop has been requested.
    public var requested: String? { lock.withLock { reason } }
}
