/// How the server applies gradients from several workers.
public enum ConsistencyMode: String, Codable, Sendable, CaseIterable {
    /// Every step waits for every live worker; gradients are summed in rank order and applied once.
    case sync
    /// Each gradient is applied as it arrives.
    case async
    /// As async, but no gradient is applied more than `staleness` versions after the weights it was computed on.
    case bounded
}

/// How gradients, and the weight changes sent back, travel between workers and servers.
public enum GradientCompression: String, Codable, Sendable, CaseIterable {
    /// float32, exact.
    case none
    /// Half precision; the server still sums and updates in float32.
    case fp16
    /// The `topk_fraction` largest-magnitude entries as index/value pairs.
    case topk
}

/// What the server does when a worker dies or goes silent for longer than the heartbeat timeout.
public enum WorkerFailurePolicy: String, Codable, Sendable, CaseIterable {
    /// Sync steps go on with the live workers; the lost worker's shard is skipped until a worker with its rank
    /// rejoins, and the summary lists it.
    case `continue`
    /// Sync steps wait for a worker with the lost rank to rejoin, up to `replacement_timeout`; then the job fails.
    case wait
}

/// The distributed run: how many workers, the consistency policy, and the liveness rules.
public struct ClusterConfig: Codable, Equatable, Sendable {
    public var mode = ConsistencyMode.sync
    public var workers = 4
    /// Server shards: each holds a contiguous slice of the parameters and its optimizer state.
    public var servers = 1
    /// Bounded mode: the most versions a gradient may lag the server's weights when it is applied.
    public var staleness = 4
    /// A waiting worker sends a heartbeat this often (seconds).
    public var heartbeatInterval = 0.5
    /// The server reports a worker it has not heard from for this long (seconds).
    public var heartbeatTimeout = 3.0
    /// A worker gives up when the server has not answered for this long (seconds).
    public var serverTimeout = 60.0
    /// A `pstrain worker` whose computation of one gradient takes longer than this ends itself with status 1, so
    /// that `pstrain launch` restarts it (seconds; 0: no limit). It heartbeats while it computes, so without a
    /// limit a hung computation would hold a sync job forever.
    public var stepTimeout = 600.0
    /// What happens to the job when a worker is lost.
    public var onWorkerFailure = WorkerFailurePolicy.continue
    /// How long the server waits for a lost worker's replacement (`wait`), or for any worker when none is left
    /// (`continue`), before it fails the job (seconds). A restarted server waits as long for each worker to
    /// register again, then counts the missing ones as lost.
    public var replacementTimeout = 60.0
    /// How often `pstrain launch` restarts a crashed worker of each rank, or a crashed server (then from its
    /// latest checkpoint).
    public var maxRestarts = 3
    /// The longest pause between a worker's attempts to reconnect to a server that went away (seconds); the
    /// pause starts at 0.1 s and doubles up to this.
    public var reconnectMax = 2.0
    /// What a non-finite gradient from a worker does.
    public var nanPolicy = NaNPolicy.reject
    /// Inbound messages above this size are cut by the transport (MiB).
    public var maxMessageMb = 256
    /// Payload compression of pushes and of the weight changes that answer them, with error feedback. The server's
    /// setting holds: workers learn it from the welcome, so it is not part of the job id.
    public var compression = GradientCompression.none
    /// `topk`: the fraction of entries each message carries (at least one).
    public var topkFraction = 0.01
    /// Whether a worker offers its server a shared memory segment for the payloads, and a server takes it. Only
    /// processes on one host can share one (the server checks); the others go on over the connection. Each
    /// process's own setting: not part of the job id.
    public var sharedMemory = true

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, workers, servers, staleness, heartbeatInterval = "heartbeat_interval", heartbeatTimeout = "heartbeat_timeout"
        case serverTimeout = "server_timeout", stepTimeout = "step_timeout", maxMessageMb = "max_message_mb", onWorkerFailure = "on_worker_failure"
        case replacementTimeout = "replacement_timeout", maxRestarts = "max_restarts", reconnectMax = "reconnect_max"
        case nanPolicy = "nan_policy", compression, topkFraction = "topk_fraction", sharedMemory = "shared_memory"
    }
}
