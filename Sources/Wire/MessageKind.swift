/// What a message asks or tells. The numbers are part of the protocol: never renumber, only add.
public enum MessageKind: UInt16, Sendable, CaseIterable {
    /// Worker → server: join the job. Header: requested rank (or -1) in `sender`, the model's `layoutHash`, and in
    /// `aux` the payload compressions the worker can use (`CompressionSupport`). Optional payload: JSON, with the
    /// shared memory segment a worker offers under `shared_memory` (name, token, slot_bytes); the welcome's
    /// `shared_memory` says whether the server mapped it.
    case register = 1
    /// Server → worker: accepted. Header: assigned rank in `aux`, current version; payload: job facts as JSON.
    case welcome = 2
    /// Server → peer: not accepted. Payload: the reason, as UTF-8 text that says what differs; `aux`: a
    /// `Refusal` code, which tells a worker whether to give up or to register again.
    case refuse = 3
    /// Worker → server: send the weights.
    case pull = 4
    /// Server → worker: the weights at model `version`. Payload: every parameter, float32. With compression, the
    /// answer to a push carries only the change since the last weights this worker was sent (float16 or sparse),
    /// and `aux` numbers these deltas from 1 after each full float32 payload, so that a worker that missed one
    /// notices it and pulls.
    case weights = 5
    /// Worker → server: a gradient computed on `version` from `aux` samples; reply: weights. No payload when `aux` is 0.
    /// Float32, or float16 or sparse as the welcome's `compression` says.
    case push = 6
    /// Worker → server: still alive while waiting. Also, with `aux` a `HeartbeatPurpose`, shard 0 → another shard:
    /// a probe of its step, sent at shard 0's `version`; answered by a probe heartbeat at the shard's `version`,
    /// echoing the probe's in `value`.
    case heartbeat = 7
    /// Worker → server: reached the end of its epochs. The server holds every worker at this barrier and
    /// releases them all with `shutdown` once the last one arrives and the final evaluation is written.
    case barrier = 8
    /// Any → server: report your state. Server → asker: JSON.
    case stats = 9
    /// Server → worker: the job is over; exit.
    case shutdown = 10
    /// Worker → server shard, right before a push when the parameters are split over several shards: `value` is
    /// the sum of squares of the worker's whole gradient (after clipping by value), `version` the push's base.
    /// Every shard then judges the gradient alike (finite or not) and, in async and bounded mode, clips it by the
    /// global norm. No reply.
    case gradientNorm = 11
    /// Server shard → worker, in sync mode with several shards and `clip_norm` set, in place of the weights: `value`
    /// is this shard's part of the sum of squares of the step's averaged gradient at `version`.
    case normShare = 12
    /// Worker → server shard: the sum of the shards' `normShare` values, in shard order, in `value`; reply: weights.
    /// The first to arrive completes the step; the others are answered with the same weights.
    case normTotal = 13
    /// Shard 0 → another shard: send your slice of the weights once your version is at least `version`; `aux` is a
    /// `SnapshotScope` saying what else goes with it and when. Reply: weights (with the optimizer state after them,
    /// where the scope asks for it, and the number of moment vectors in `aux`).
    case snapshot = 14
    /// Server shard → shard 0, where shards know only shard 0's address (ps-lite's convention): the endpoint this
    /// shard serves, as UTF-8. Reply from shard 0: the same kind, with the shard index it assigns in `shard` and
    /// its own endpoint as payload.
    case shardJoin = 15
    /// Worker → server: a leading slice of the float32 gradient of the `push` that follows, sent ahead so that the
    /// server takes it in while the rest is on the way (`PayloadParts` says when and how a push is cut). `aux`: the
    /// offset of its first value, the parts of one push following one another from 0; `version`: the push's base.
    /// The push then carries the values from where its parts ended. No reply.
    case pushPart = 16
    /// Server → worker that pushed in parts: a leading slice of the float32 weights at `version`, sent as soon as
    /// the server has updated it, so that the transfer overlaps the rest of the update. `aux`: the offset of its
    /// first value, the parts following one another from 0. The `weights` message that follows carries the values
    /// from where the parts ended.
    case weightsPart = 17
    /// Shard 0 → another shard, when shard 0 resumes a sharded job from its checkpoint: take this state and forget
    /// every worker (they register again). `version`: the checkpoint's step; `value`: the optimizer's step count;
    /// `aux`: the number of moment vectors; payload: the shard's slice of the parameters, then of each moment.
    /// Reply: `restore` without payload, at the version taken, or `refuse` saying why not.
    case restore = 18
    /// Worker → server, before it registers: what the whole data set is (`DataFacts`), for a worker that reads only
    /// its shard's rows. Reply: the same kind, the facts as JSON, or `refuse` to another job's worker.
    case dataFacts = 19

    /// The payload a message of this kind carries.
    public var allowedPayloads: Set<ElementType> {
        switch self {
        case .register, .stats, .dataFacts: [.none, .utf8]
        case .pull, .heartbeat, .barrier, .shutdown, .gradientNorm, .normShare, .normTotal, .snapshot: [.none]
        case .welcome, .refuse, .shardJoin: [.utf8]
        case .weights: [.float32, .float16, .sparseFloat32]
        case .pushPart, .weightsPart: [.float32]
        case .restore: [.none, .float32]
        case .push: [.none, .float32, .float16, .sparseFloat32]
        }
    }
}

/// What a refused worker should do, carried in a `refuse` message's `aux`. Never renumber, only add.
public enum Refusal: UInt64, Sendable {
    /// The worker cannot join this job as it is: give up.
    case final = 0
    /// The server does not know this worker (it restarted from a checkpoint, or the worker was replaced while
    /// silent): register again and continue where the welcome says.
    case registerAgain = 1
}

/// Why a `heartbeat` is sent, in its `aux`. Never renumber, only add.
public enum HeartbeatPurpose: UInt64, Sendable {
    /// A worker is alive while it computes or waits.
    case alive = 0
    /// Shard 0 asks another shard its step, or the shard answers it: a shard back at a lower step than it had
    /// reached started again without its state.
    case shardProbe = 1
}

/// What a `snapshot` request asks for, in its `aux`. Never renumber, only add.
public enum SnapshotScope: UInt64, Sendable {
    /// The weights, once the shard's version is at least the one asked for.
    case weights = 0
    /// The weights and the optimizer state, once every worker has finished; the shard then ends the job.
    case final = 1
    /// The weights and the optimizer state for a checkpoint, once the shard's version is at least the one asked for:
    /// shard 0 writes the checkpoint only if the version answered is its own.
    case checkpoint = 2
}

/// The payload compressions a worker can use, as bits of its `register` message's `aux`. Never renumber, only add.
public struct CompressionSupport: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// float16 gradients and weight changes.
    public static let float16 = CompressionSupport(rawValue: 1)
    /// Sparse (index/value) gradients and weight changes.
    public static let sparse = CompressionSupport(rawValue: 2)
    /// Everything this release can use.
    public static let all: CompressionSupport = [.float16, .sparse]
}

/// The type of a message's payload elements.
public enum ElementType: UInt8, Sendable, CaseIterable {
    /// No payload frame.
    case none = 0
    /// Little-endian IEEE 754 binary32.
    case float32 = 1
    /// UTF-8 text (JSON or a human-readable reason).
    case utf8 = 2
    /// Little-endian IEEE 754 binary16 (`cluster.compression: fp16`).
    case float16 = 3
    /// Index/value pairs, a little-endian UInt32 index then a float32 value, indices ascending; entries absent are
    /// zero (`cluster.compression: topk`). The header's count is the number of pairs.
    case sparseFloat32 = 4

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .none: 0
        case .float32: 4
        case .utf8: 1
        case .float16: 2
        case .sparseFloat32: 8
        }
    }
}

/// How a large float32 payload travels in pieces: the leading pieces as `pushPart` / `weightsPart` messages, the
/// last one in the `push` / `weights` message itself. The receiver works on each piece while the next is on the
/// wire, instead of idling until the whole payload has arrived.
public enum PayloadParts {
    /// Values per piece: 1 MiB of float32. A multiple of 16, so pieces of a 64-byte aligned frame stay aligned.
    public static let valuesPerPiece = 1 << 18

    /// The value ranges of the pieces of a payload of `count` values, in order; one range (no parts) below two pieces.
    public static func pieces(count: Int) -> [Range<Int>] {
        guard count >= 2 * valuesPerPiece else { return [0 ..< count] }
        return stride(from: 0, to: count, by: valuesPerPiece).map { $0 ..< min($0 + valuesPerPiece, count) }
    }
}
