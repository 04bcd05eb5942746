/// The frame that stands in for a payload passed through a `SharedPayloadSegment`. It goes first, before the
/// message's header frame, so a receiver tells the two apart by the first frame's magic. 32 bytes, little-endian:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `PSHR` |
/// | 4 | 4 | slot (0 and 1 worker → server, 2 and 3 server → worker) |
/// | 8 | 8 | generation: how many payloads the slot has carried, this one included |
/// | 16 | 8 | payload bytes |
/// | 24 | 8 | reserved (0) |
public struct SharedPayloadReference: Sendable, Equatable {
    public static let size = 32
    static let magic: [UInt8] = Array("PSHR".utf8)

    public var slot: UInt32
    public var generation: UInt64
    public var byteCount: UInt64

    public init(slot: UInt32, generation: UInt64, byteCount: UInt64) {
        self.slot = slot
        self.generation = generation
        self.byteCount = byteCount
    }

    /// The frame's 32 bytes.
    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { raw in
            raw.copyBytes(from: Self.magic)
            raw.storeBytes(of: slot.littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: generation.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: byteCount.littleEndian, toByteOffset: 16, as: UInt64.self)
        }
        return bytes
    }

    /// Whether `frame` is meant as a reference: it starts with the magic, which no header frame does.
    public static func looksLikeReference(_ frame: UnsafeRawBufferPointer) -> Bool {
        frame.count >= 4 && Array(frame[0 ..< 4]) == magic
    }

    /// Reads a reference frame: nil unless it is 32 bytes with the magic and a zero reserved field.
    public static func decode(_ frame: UnsafeRawBufferPointer) -> SharedPayloadReference? {
        guard frame.count == size, looksLikeReference(frame), frame.loadUnaligned(fromByteOffset: 24, as: UInt64.self) == 0 else { return nil }
        return SharedPayloadReference(slot: UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
                                      generation: UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                                      byteCount: UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
    }
}
