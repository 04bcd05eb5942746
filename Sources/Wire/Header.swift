/// The fixed 64-byte frame that starts every message, little-endian:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `PSTR` |
/// | 4 | 2 | protocol version |
/// | 6 | 2 | message kind |
/// | 8 | 8 | job id |
/// | 16 | 4 | sender rank (-1: the server, or a worker not yet ranked) |
/// | 20 | 2 | server shard |
/// | 22 | 1 | payload element type |
/// | 23 | 1 | flags (0) |
/// | 24 | 8 | model version (the base version, for a push) |
/// | 32 | 8 | aux: samples behind a push; the assigned rank in a welcome; the `Refusal` code of a refuse |
/// | 40 | 8 | payload element count |
/// | 48 | 8 | model layout hash |
/// | 56 | 8 | value: float64, the mean loss of a push's batch (0 in other kinds) |
public struct Header: Sendable, Equatable {
    public static let size = 64
    /// "PSTR" in byte order.
    public static let magic: [UInt8] = Array("PSTR".utf8)
    /// 2 since workers ask for the data set's facts (`dataFacts`) before they register, which no server of
    /// version 1 can answer.
    public static let protocolVersion: UInt16 = 2

    public var kind: MessageKind
    public var jobID: UInt64
    public var sender: Int32
    public var shard: UInt16
    public var elementType: ElementType
    public var version: UInt64
    public var aux: UInt64
    public var count: UInt64
    public var layoutHash: UInt64
    /// A push's mean batch loss, so the server can log training loss without a second message; a few other kinds
    /// carry a figure of their own here (see `MessageKind`).
    public var value: Double

    public init(kind: MessageKind, jobID: UInt64, sender: Int32, shard: UInt16 = 0, elementType: ElementType = .none,
                version: UInt64 = 0, aux: UInt64 = 0, count: UInt64 = 0, layoutHash: UInt64 = 0, value: Double = 0) {
        self.kind = kind
        self.jobID = jobID
        self.sender = sender
        self.shard = shard
        self.elementType = elementType
        self.version = version
        self.aux = aux
        self.count = count
        self.layoutHash = layoutHash
        self.value = value
    }

    /// The 64 header bytes.
    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Header.size)
        bytes.withUnsafeMutableBytes { raw in
            raw.copyBytes(from: Header.magic)
            raw.storeBytes(of: Header.protocolVersion.littleEndian, toByteOffset: 4, as: UInt16.self)
            raw.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
            raw.storeBytes(of: jobID.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: sender.littleEndian, toByteOffset: 16, as: Int32.self)
            raw.storeBytes(of: shard.littleEndian, toByteOffset: 20, as: UInt16.self)
            raw.storeBytes(of: elementType.rawValue, toByteOffset: 22, as: UInt8.self)
            raw.storeBytes(of: version.littleEndian, toByteOffset: 24, as: UInt64.self)
            raw.storeBytes(of: aux.littleEndian, toByteOffset: 32, as: UInt64.self)
            raw.storeBytes(of: count.littleEndian, toByteOffset: 40, as: UInt64.self)
            raw.storeBytes(of: layoutHash.littleEndian, toByteOffset: 48, as: UInt64.self)
            raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 56, as: UInt64.self)
        }
        return bytes
    }

    /// Reads and checks a header frame: size, magic, version, kind, element type, flags, reserved bytes,
    /// and that the element type is one this kind may carry. Lengths of the payload are `Message`'s to check.
    public static func decode(_ frame: UnsafeRawBufferPointer) throws(WireError) -> Header {
        guard frame.count == size else { throw .headerSize(frame.count) }
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T { T(littleEndian: frame.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        guard Array(frame[0 ..< 4]) == magic else { throw .badMagic(Array(frame[0 ..< 4])) }
        let version = load(4, UInt16.self)
        guard version == protocolVersion else { throw .protocolVersion(version) }
        let rawKind = load(6, UInt16.self)
        guard let kind = MessageKind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let rawType = load(22, UInt8.self)
        guard let elementType = ElementType(rawValue: rawType) else { throw .unknownElementType(rawType) }
        guard load(23, UInt8.self) == 0 else { throw .reservedBitsSet }
        guard kind.allowedPayloads.contains(elementType) else { throw .payloadNotAllowed(kind, elementType) }
        let header = Header(kind: kind, jobID: load(8, UInt64.self), sender: load(16, Int32.self), shard: load(20, UInt16.self),
                            elementType: elementType, version: load(24, UInt64.self), aux: load(32, UInt64.self),
                            count: load(40, UInt64.self), layoutHash: load(48, UInt64.self),
                            value: Double(bitPattern: load(56, UInt64.self)))
        guard elementType != .none || header.count == 0 else { throw .lengthMismatch(expectedBytes: 0, actualBytes: Int(clamping: header.count)) }
        return header
    }
}
