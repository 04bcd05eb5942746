import Transport
import Wire

/// The leading pieces of a float32 push's gradient go ahead as `pushPart` messages through `send` (see
/// `PayloadParts`); returns the push itself, carrying the last piece. A gradient too small to cut goes whole.
public func pushInParts(_ push: Header, gradient: OutboundFrame, send: ([OutboundFrame]) throws -> Void) rethrows -> [OutboundFrame] {
    let pieces = PayloadParts.pieces(count: gradient.count / 4)
    for piece in pieces.dropLast() {
        let part = Header(kind: .pushPart, jobID: push.jobID, sender: push.sender, shard: push.shard, elementType: .float32,
                          version: push.version, aux: UInt64(piece.lowerBound), count: UInt64(piece.count))
        try send(frames(part, payload: gradient.slice(floats: piece)))
    }
    var last = push
    last.count = UInt64(pieces.last!.count)
    return frames(last, payload: pieces.count == 1 ? gradient : gradient.slice(floats: pieces.last!))
}

/// Float32 weights that may arrive in pieces: `weightsPart` messages from offset 0 on, then the `weights` message
/// with the rest. Says where each piece goes, and that they fit together.
public struct WeightsPieces {
    /// The version and the end of the parts taken so far.
    private var taken: (version: UInt64, end: Int)?

    public init() {}

    /// Where a `weightsPart` of `header` goes among `total` values: the values following the parts before it.
    public mutating func placePart(_ header: Header, total: Int) -> Range<Int>? {
        let start = taken.map { $0.version == header.version ? $0.end : 0 } ?? 0
        guard header.aux == UInt64(start), header.count > 0, header.count < UInt64(total - start) else {
            taken = nil
            return nil
        }
        taken = (header.version, start + Int(header.count))
        return start ..< start + Int(header.count)
    }

    /// Where the float32 payload of a `weights` message of `header` goes among `total` values: all of them, or the
    /// rest after the parts of its version.
    public mutating func placeWeights(_ header: Header, total: Int) -> Range<Int>? {
        defer { taken = nil }
        if header.count == UInt64(total) { return 0 ..< total }
        guard let taken, taken.version == header.version, header.count == UInt64(total - taken.end) else { return nil }
        return taken.end ..< total
    }
}
