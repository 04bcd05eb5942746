import Transport

/// Shard 0's connection to another server shard: a client transport to that shard's endpoint, over which shard 0
/// fetches the shard's slice of the weights to evaluate the whole model and to write the final checkpoint.
public struct ShardLink {
    /// The shard at the other end.
    public let shard: Int
    public let transport: ClientTransport

    public init(shard: Int, transport: ClientTransport) {
        self.shard = shard
        self.transport = transport
    }
}
