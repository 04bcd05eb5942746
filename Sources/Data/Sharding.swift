import Numerics

/// How a data set is split among workers.
public enum ShardMode: String, Sendable, CaseIterable, Codable {
    /// Worker `r` of `n` takes one block of consecutive rows, the blocks differing in size by at most one.
    case contiguous
    /// Worker `r` of `n` takes rows `r, r + n, r + 2n, ...`.
    case strided
}

/// One worker's part of a data set.
public struct Shard: Sendable, Equatable {
    public let rank: Int
    public let count: Int
    public let mode: ShardMode

    public init(rank: Int, count: Int, mode: ShardMode = .contiguous) {
        precondition(count >= 1 && rank >= 0 && rank < count, "shard rank \(rank) must be in 0..<\(count)")
        self.rank = rank
        self.count = count
        self.mode = mode
    }

    /// The row indices of this shard in a data set of `total` rows. The shards of all ranks partition `0..<total`.
    public func indices(total: Int) -> [Int] {
        switch mode {
        case .contiguous: Array(rank * total / count ..< (rank + 1) * total / count)
        case .strided: Array(stride(from: rank, to: total, by: count))
        }
    }
}

/// The mini-batches of one epoch: the shard's rows, shuffled with a seed drawn from (seed, epoch, rank),
/// cut into batches of `batchSize` (the last one smaller unless `dropLast`).
public struct EpochBatches: Sequence, Sendable {
    public let order: [Int]
    public let batchSize: Int
    public let dropLast: Bool

    public init(shardRows: [Int], batchSize: Int, epoch: Int, seed: UInt64, rank: Int = 0, shuffle: Bool = true, dropLast: Bool = false) {
        precondition(batchSize >= 1, "batch size must be at least 1")
        var order = shardRows
        if shuffle {
            var rng = SeededGenerator(seed: seed, streams: 0x5EED, UInt64(epoch), UInt64(rank))
            rng.shuffle(&order)
        }
        self.order = order
        self.batchSize = batchSize
        self.dropLast = dropLast
    }

    /// The number of batches this epoch yields.
    public var count: Int { dropLast ? order.count / batchSize : (order.count + batchSize - 1) / batchSize }

    public func makeIterator() -> AnyIterator<ArraySlice<Int>> {
        var start = 0
        let order = order, batchSize = batchSize, total = count
        var produced = 0
        return AnyIterator {
            guard produced < total else { return nil }
            defer { start += batchSize; produced += 1 }
            return order[start ..< Swift.min(start + batchSize, order.count)]
        }
    }
}
