import Config
import Transport
import Wire

/// One direction of compressed traffic for vectors of one length: encodes them into a reused frame with
/// `PayloadCodec`'s error feedback.
struct PayloadEncoder {
    let compression: GradientCompression
    /// Entries per sparse payload.
    let k: Int
    /// What earlier payloads did not carry, added to the next values (a worker's gradients). Empty when the caller
    /// keeps track itself (the server's copy of the weights a worker holds).
    var residual: [Float]
    var scratch: [Float]
    /// The bytes of one payload.
    let payloadBytes: Int
    /// Where the next payload is written, unless the caller hands in a frame of its own; made on first use.
    var frame: OutboundFrame?

    init(compression: GradientCompression, fraction: Double, count: Int, keepsResidual: Bool) {
        precondition(compression != .none, "no encoder without compression")
        self.compression = compression
        k = PayloadCodec.topKCount(of: count, fraction: fraction)
        residual = keepsResidual ? [Float](repeating: 0, count: count) : []
        scratch = compression == .topk ? [Float](repeating: 0, count: count) : []
        payloadBytes = Self.payloadBytes(compression: compression, k: k, count: count)
    }

    /// The bytes of one payload of `count` values: float16 each, or `k` index/value pairs.
    static func payloadBytes(compression: GradientCompression, k: Int, count: Int) -> Int {
        compression == .topk ? 8 * k : 2 * count
    }

    var elementType: ElementType { compression == .topk ? .sparseFloat32 : .float16 }

    /// Encodes `values` (plus the residual, where kept) into `target`, or else the encoder's own frame, and returns
    /// the payload and its element count; `values` then holds exactly what the receiver decodes.
    mutating func encode(_ values: UnsafeMutableBufferPointer<Float>, into target: OutboundFrame? = nil) -> (payload: OutboundFrame, count: Int) {
        if target == nil && (frame == nil || !isKnownUniquelyReferenced(&frame!)) { frame = OutboundFrame(count: payloadBytes) }
        let output = target ?? frame!
        precondition(output.count == payloadBytes, "a payload frame of \(output.count) bytes; this encoder writes \(payloadBytes)")
        let (compression, k, keeps) = (compression, k, !residual.isEmpty)
        output.withMutableBytes { out in
            scratch.withUnsafeMutableBufferPointer { scratch in
                residual.withUnsafeMutableBufferPointer { r in
                    if keeps { for i in 0 ..< values.count { values[i] += r[i] } }
                    let residual = keeps ? r : nil
                    switch compression {
                    case .fp16: PayloadCodec.encodeFloat16(values, residual: residual, into: out)
                    case .topk: PayloadCodec.encodeTopK(values, k: k, residual: residual, scratch: scratch, into: out)
                    case .none: preconditionFailure("no encoder without compression")
                    }
                }
            }
        }
        return (output, compression == .topk ? k : values.count)
    }
}

/// Spare buffers for the weight changes a server encodes, of one vector length. A lineage step hands its change
/// and payload back here when it is freed, and the next step takes them, so that in steady state no step
/// allocates: a fresh buffer of several MiB costs a page fault per 4 KiB, more than encoding it does.
final class ChangeBuffers {
    let count: Int
    let frameBytes: Int
    private var changes: [[Float]] = []
    private var frames: [OutboundFrame] = []
    /// Spares kept of each kind; enough for the steps in flight (a frame is busy until the transport sent it).
    static let kept = 4
    /// The bytes of every buffer made here and not yet dropped: the steps still needed, plus the spares.
    private(set) var liveBytes = 0

    init(compression: GradientCompression, fraction: Double, count: Int) {
        self.count = count
        frameBytes = PayloadEncoder.payloadBytes(compression: compression, k: PayloadCodec.topKCount(of: count, fraction: fraction), count: count)
    }

    func takeChange() -> [Float] {
        if let spare = changes.popLast() { return spare }
        liveBytes += 4 * count
        return [Float](repeating: 0, count: count)
    }

    /// A spare frame no transport holds any more, or a new one.
    func takeFrame() -> OutboundFrame {
        for i in frames.indices where isKnownUniquelyReferenced(&frames[i]) { return frames.remove(at: i) }
        liveBytes += frameBytes
        return OutboundFrame(count: frameBytes)
    }

    func giveBack(change: [Float], frame: OutboundFrame) {
        if changes.count < Self.kept { changes.append(change) } else { liveBytes -= 4 * count }
        if frames.count < Self.kept { frames.append(frame) } else { liveBytes -= frameBytes }
    }
}

/// A point in the history of the weights a server sent: workers at the same point hold bit-identical weights.
/// The first worker to move on from it records the change it was sent, and any other worker at this point that
/// needs the change to the same version is sent the very same payload, so in sync mode a step is encoded once,
/// not once per worker.
final class WeightsLineage {
    struct Step {
        var version: UInt64
        var payload: OutboundFrame
        var count: Int
        /// The change as the worker decodes it.
        var change: [Float]
        var next: WeightsLineage
    }

    var step: Step?
    /// Where the step's buffers come from and go back to.
    let buffers: ChangeBuffers

    init(buffers: ChangeBuffers) { self.buffers = buffers }

    deinit {
        if let step { buffers.giveBack(change: step.change, frame: step.payload) }
    }
}

/// The server's side of one worker's compressed weights: the weights that worker holds, as the server sent them, so
/// each answer carries only the change since (whatever an earlier one left out is still part of that change).
struct WorkerWeightsCopy {
    var held: [Float]
    var encoder: PayloadEncoder
    var lineage: WeightsLineage
    /// Deltas sent since the last full weights; the worker checks it counted the same.
    var sequence: UInt64 = 0

    /// A worker that was just sent `weights` whole, at the point `lineage` of their history.
    init(weights: UnsafeBufferPointer<Float>, lineage: WeightsLineage, compression: GradientCompression, fraction: Double) {
        held = Array(weights)
        self.lineage = lineage
        encoder = PayloadEncoder(compression: compression, fraction: fraction, count: weights.count, keepsResidual: false)
    }

    /// The payload taking this worker from what it holds towards `weights` at `version`, and its element count.
    mutating func delta(to weights: UnsafeBufferPointer<Float>, version: UInt64) -> (payload: OutboundFrame, count: Int) {
        sequence += 1
        if let step = lineage.step, step.version == version {
            held.withUnsafeMutableBufferPointer { held in
                step.change.withUnsafeBufferPointer { change in for i in 0 ..< held.count { held[i] += change[i] } }
            }
            lineage = step.next
            return (step.payload, step.count)
        }
        var change = lineage.buffers.takeChange()
        let frame = lineage.buffers.takeFrame()
        let (payload, count) = change.withUnsafeMutableBufferPointer { change in
            held.withUnsafeMutableBufferPointer { held in
                for i in 0 ..< held.count { change[i] = weights[i] - held[i] }
                let encoded = encoder.encode(change, into: frame)
                for i in 0 ..< held.count { held[i] += change[i] }
                return encoded
            }
        }
        let next = WeightsLineage(buffers: lineage.buffers)
        lineage.step = WeightsLineage.Step(version: version, payload: payload, count: count, change: change, next: next)
        lineage = next
        return (payload, count)
    }
}
