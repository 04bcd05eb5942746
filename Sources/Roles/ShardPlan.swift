/// How the flat parameter vector is split over the server shards: shard `k` of `S` owns the contiguous range
/// `[k·n/S, (k+1)·n/S)`, so the slices differ in size by at most one value. Layer boundaries play no part: the
/// optimizer and clipping work on values, and the global norm is assembled across shards.
public struct ShardPlan: Equatable, Sendable {
    public let parameterCount: Int
    public let shards: Int

    /// Fails when there are more shards than parameters (a shard would hold nothing).
    public init(parameterCount: Int, shards: Int) throws(ShardPlanError) {
        guard shards >= 1, shards <= parameterCount else { throw ShardPlanError(parameterCount: parameterCount, shards: shards) }
        self.parameterCount = parameterCount
        self.shards = shards
    }

    /// The parameters shard `shard` owns.
    public func range(_ shard: Int) -> Range<Int> {
        precondition((0 ..< shards).contains(shard), "shard \(shard) outside 0..<\(shards)")
        return shard * parameterCount / shards ..< (shard + 1) * parameterCount / shards
    }

    /// Every shard's range, shard 0 first.
    public var ranges: [Range<Int>] { (0 ..< shards).map(range) }
}

/// `cluster.servers` asks for more shards than the model has parameters.
public struct ShardPlanError: Error, CustomStringConvertible {
    public var parameterCount: Int
    public var shards: Int
    public var description: String {
        "cluster.servers: \(shards) shards cannot split a model of \(parameterCount) parameters; use 1 to \(parameterCount)"
    }
}
