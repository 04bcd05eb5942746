import Foundation
import Transport
import Wire

/// Builds the frames of one message: the header, then the payload if there is one.
func frames(_ header: Header, payload: OutboundFrame? = nil) -> [OutboundFrame] {
    [OutboundFrame(header.encoded())] + (payload.map { [$0] } ?? [])
}

/// A message with a UTF-8 payload (welcome, refuse, stats).
func textFrames(_ header: Header, _ text: String) -> [OutboundFrame] {
    var h = header
    h.elementType = .utf8
    h.count = UInt64(text.utf8.count)
    return frames(h, payload: OutboundFrame(Array(text.utf8)))
}

/// JSON text for a welcome or stats payload.
func json(_ object: [String: Any]) -> String {
    (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}

extension UnsafeBufferPointer where Element == Float {
    /// The float32 values of a payload that `ParameterServer.canReadWhereItArrived` accepted (aligned, little-endian).
    init(floatsIn bytes: UnsafeRawBufferPointer) {
        self.init(start: bytes.baseAddress?.assumingMemoryBound(to: Float.self), count: bytes.count / MemoryLayout<Float>.stride)
    }
}
