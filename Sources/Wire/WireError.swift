/// Why a received message was rejected. Every reason is counted separately by the server.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    case noFrames
    case tooManyFrames(Int)
    case headerSize(Int)
    case badMagic([UInt8])
    case protocolVersion(UInt16)
    case unknownKind(UInt16)
    case unknownElementType(UInt8)
    case reservedBitsSet
    case payloadNotAllowed(MessageKind, ElementType)
    case missingPayload
    case unexpectedPayload
    case lengthMismatch(expectedBytes: Int, actualBytes: Int)
    case oversize(bytes: Int, limit: Int)
    case sparseEntries(String)

    /// A short stable name, for counters and logs.
    public var reason: String {
        switch self {
        case .noFrames: "no_frames"
        case .tooManyFrames: "too_many_frames"
        case .headerSize: "header_size"
        case .badMagic: "bad_magic"
        case .protocolVersion: "protocol_version"
        case .unknownKind: "unknown_kind"
        case .unknownElementType: "unknown_element_type"
        case .reservedBitsSet: "reserved_bits"
        case .payloadNotAllowed: "payload_not_allowed"
        case .missingPayload: "missing_payload"
        case .unexpectedPayload: "unexpected_payload"
        case .lengthMismatch: "length_mismatch"
        case .oversize: "oversize"
        case .sparseEntries: "bad_sparse"
        }
    }

    public var description: String {
        switch self {
        case .noFrames: "empty message"
        case .tooManyFrames(let n): "\(n) frames; a message has a header and at most one payload frame"
        case .headerSize(let n): "header frame of \(n) bytes; expected \(Header.size)"
        case .badMagic(let bytes): "magic \(bytes); expected \(Header.magic) (\"PSTR\"): not a pstrain peer"
        case .protocolVersion(let v): "protocol version \(v); this pstrain speaks \(Header.protocolVersion): run the same pstrain release everywhere"
        case .unknownKind(let k): "unknown message kind \(k)"
        case .unknownElementType(let t): "unknown element type \(t)"
        case .reservedBitsSet: "the header's flags byte is not zero"
        case .payloadNotAllowed(let kind, let type): "a \(kind) message cannot carry a \(type) payload"
        case .missingPayload: "the header announces a payload but there is no payload frame"
        case .unexpectedPayload: "a payload frame follows a header that announces none"
        case .lengthMismatch(let expected, let actual): "payload of \(actual) bytes; the header announces \(expected)"
        case .oversize(let bytes, let limit): "payload of \(bytes) bytes exceeds the limit of \(limit)"
        case .sparseEntries(let what): "sparse payload: \(what)"
        }
    }
}
