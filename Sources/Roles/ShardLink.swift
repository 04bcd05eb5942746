import Transport

/// Shard 0's connection to another server shard: a client transport to that shard's endpoint, over which shard 0
/// fetches the shard's slice of the weights to evaluate the whole model and to write the final checkpoint.
public struct ShardLink {
    /// The shard at the other end.
    public let shard: Int
    public let transport: ClientTransport
    /// The endpoint the shard serves, which workers connect to as well (told in shard 0's stats).
    public let endpoint: String

    public init(shard: Int, transport: ClientTransport, endpoint: String) {
        self.shard = shard
        self.transport = transport
        self.endpoint = endpoint
    }
}
