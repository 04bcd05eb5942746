import Foundation

/// Bytes to send as one frame. Fill it and hand it to a transport; then leave it alone while the transport
/// holds it: a transport may send it without copying, from another thread, after `send` has returned. Once
/// `isKnownUniquelyReferenced` says yours is the only reference, the transport is done and it may be reused.
public final class OutboundFrame: @unchecked Sendable {
    // @unchecked: written only before it is sent, read only after.
    public let count: Int
    let storage: UnsafeMutableRawPointer
    /// The frame whose bytes this one views, kept alive by it; nil for a frame that owns its bytes.
    private let whole: OutboundFrame?
    /// What owns the memory of a frame made `borrowing` it, kept alive by the frame.
    let lender: AnyObject?

    /// `count` bytes, uninitialised, 64-byte aligned so that float views vectorise.
    public init(count: Int) {
        self.count = count
        storage = .allocate(byteCount: max(count, 1), alignment: 64)
        whole = nil
        lender = nil
    }

    private init(viewing whole: OutboundFrame, bytes: Range<Int>) {
        count = bytes.count
        storage = whole.storage + bytes.lowerBound
        self.whole = whole
        lender = nil
    }

    /// A frame over `count` bytes at `storage`, memory that `lender` owns (a shared memory slot) and the frame
    /// keeps alive.
    init(borrowing storage: UnsafeMutableRawPointer, count: Int, from lender: AnyObject) {
        self.count = count
        self.storage = storage
        whole = nil
        self.lender = lender
    }

    /// A frame of `bytes` of this one, sharing its memory: sending it sends those bytes without copying them.
    /// While a transport holds the slice, this frame is not uniquely referenced either.
    public func slice(bytes: Range<Int>) -> OutboundFrame {
        precondition(bytes.lowerBound >= 0 && bytes.upperBound <= count, "slice \(bytes) of a frame of \(count) bytes")
        let owner = whole ?? self
        let start = storage - owner.storage + bytes.lowerBound
        return OutboundFrame(viewing: owner, bytes: start ..< start + bytes.count)
    }

    /// The frame of float32 values `values` of this one.
    public func slice(floats values: Range<Int>) -> OutboundFrame { slice(bytes: 4 * values.lowerBound ..< 4 * values.upperBound) }

    /// A frame holding a copy of `bytes`.
    public convenience init(_ bytes: [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { storage.copyMemory(from: base, byteCount: $0.count) } }
    }

    /// A frame holding the little-endian float32 encoding of `values`.
    public convenience init(floats values: UnsafeBufferPointer<Float>) {
        self.init(count: values.count * 4)
        #if _endian(little)
        if let base = values.baseAddress { storage.copyMemory(from: base, byteCount: count) }
        #else
        for (i, v) in values.enumerated() { storage.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        #endif
    }

    deinit { if whole == nil && lender == nil { storage.deallocate() } }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }

    /// The frame as float32 values (pstrain runs on little-endian hosts, where that is the wire's layout).
    public func withFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: storage.bindMemory(to: Float.self, capacity: count / 4), count: count / 4))
    }

    /// Writes the frame; only while no transport holds it.
    public func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage, count: count))
    }
}

/// A received frame; its bytes stay valid while the object lives.
public protocol InboundFrame: AnyObject {
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

/// Who sent a message to the server, as the transport identifies them (a ROUTER routing id).
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// Views every frame's bytes at once, for decoding.
public func withFrameBytes<R>(_ frames: [any InboundFrame], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
    var views: [UnsafeRawBufferPointer] = []
    func collect(_ index: Int) throws -> R {
        guard index < frames.count else { return try body(views) }
        return try frames[index].withBytes { bytes in
            views.append(bytes)
            return try collect(index + 1)
        }
    }
    return try collect(0)
}
