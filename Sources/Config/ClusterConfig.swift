/// How the server applies gradients from several workers.
public enum ConsistencyMode: String, Codable, Sendable, CaseIterable {
    /// Every step waits for every live worker; gradients are summed in rank order and applied once.
    case sync
    /// Each gradient is applied as it arrives.
    case async
    /// As async, but no gradient is applied more than `staleness` versions after the weights it was computed on.
    case bounded
}

/// The distributed run: how many workers, the consistency policy, and the liveness rules.
public struct ClusterConfig: Codable, Equatable, Sendable {
    public var mode = ConsistencyMode.sync
    public var workers = 4
    /// Bounded mode: the most versions a gradient may lag the server's weights when it is applied.
    public var staleness = 4
    /// A waiting worker sends a heartbeat this often (seconds).
    public var heartbeatInterval = 0.5
    /// The server reports a worker it has not heard from for this long (seconds).
    public var heartbeatTimeout = 3.0
    /// A worker gives up when the server has not answered for this long (seconds).
    public var serverTimeout = 60.0
    /// Inbound messages above this size are cut by the transport (MiB).
    public var maxMessageMb = 256

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, workers, staleness, heartbeatInterval = "heartbeat_interval", heartbeatTimeout = "heartbeat_timeout"
        case serverTimeout = "server_timeout", maxMessageMb = "max_message_mb"
    }
}
