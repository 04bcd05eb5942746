/// A decoded message: its header and, where it has one, the payload frame's bytes.
///
/// Decoding checks everything before any of it is used: the header, the frame count, and that the payload's
/// length agrees with the header's element type and count and stays under the size limit.
public struct Message {
    public let header: Header
    /// The payload frame, valid as long as the frames it was decoded from.
    public let payload: UnsafeRawBufferPointer?

    /// Decodes `frames` (header first). `maxPayloadBytes` caps what a peer may make us process.
    public static func decode(_ frames: [UnsafeRawBufferPointer], maxPayloadBytes: Int) throws(WireError) -> Message {
        guard let first = frames.first else { throw .noFrames }
        guard frames.count <= 2 else { throw .tooManyFrames(frames.count) }
        let header = try Header.decode(first)
        if header.elementType == .none {
            guard frames.count == 1 else { throw .unexpectedPayload }
            return Message(header: header, payload: nil)
        }
        guard frames.count == 2 else { throw .missingPayload }
        let payload = frames[1]
        // Compare before multiplying a peer's count by anything: a huge count must not overflow.
        let size = header.elementType.size
        guard header.count <= UInt64(maxPayloadBytes / size) else {
            throw .oversize(bytes: header.count > UInt64(Int.max / size) ? Int.max : Int(header.count) * size, limit: maxPayloadBytes)
        }
        let expected = Int(header.count) * size
        guard payload.count == expected else { throw .lengthMismatch(expectedBytes: expected, actualBytes: payload.count) }
        return Message(header: header, payload: payload)
    }

    /// The payload as text (for `utf8` payloads).
    public var text: String? {
        guard header.elementType == .utf8, let payload else { return nil }
        return String(decoding: payload, as: UTF8.self)
    }

    /// Copies a float32 payload into `destination` (converting from little-endian where needed).
    public func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) {
        guard header.elementType == .float32, let payload else { return }
        precondition(destination.count == Int(header.count), "destination holds \(destination.count) floats, payload \(header.count)")
        #if _endian(little)
        UnsafeMutableRawBufferPointer(destination).copyMemory(from: payload)
        #else
        for i in 0 ..< destination.count {
            destination[i] = Float(bitPattern: UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
        #endif
    }
}

