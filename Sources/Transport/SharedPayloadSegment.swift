import CSharedMemory
import Foundation
import Glibc

/// What a worker offers its server so that both pass large payloads through memory instead of the socket: where
/// the server finds the shared memory file it made (its process and file descriptor), the secret written in it,
/// and the size of each payload slot.
public struct SharedPayloadOffer: Sendable, Equatable {
    public var pid: Int32
    public var fd: Int32
    /// 32 hex digits, written in the segment: proof that the file found there is the one offered.
    public var token: String
    public var slotBytes: Int

    public init(pid: Int32, fd: Int32, token: String, slotBytes: Int) {
        self.pid = pid
        self.fd = fd
        self.token = token
        self.slotBytes = slotBytes
    }

    /// Where a process on the same host opens the file.
    public var path: String { "/proc/\(pid)/fd/\(fd)" }

    /// The offer as the `register` message's JSON carries it.
    public var json: [String: Any] { ["pid": Int(pid), "fd": Int(fd), "token": token, "slot_bytes": slotBytes] }

    /// Reads an offer from `register` JSON; nil when a field is missing or malformed.
    public init?(json: Any?) {
        guard let fields = json as? [String: Any], let pid = fields["pid"] as? Int, pid > 0, pid <= Int(Int32.max),
              let fd = fields["fd"] as? Int, fd >= 0, fd <= Int(Int32.max), let token = fields["token"] as? String,
              token.utf8.count == 32, token.allSatisfy(\.isHexDigit), let slotBytes = fields["slot_bytes"] as? Int,
              slotBytes > 0, slotBytes <= SharedPayloadSegment.maximumSlotBytes else { return nil }
        self.init(pid: Int32(pid), fd: Int32(fd), token: token, slotBytes: slotBytes)
    }
}

/// Why a shared payload segment could not be made or mapped.
public struct SharedPayloadError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Which way a payload goes through a segment. Each way has two slots, so that the receiver can keep using one
/// payload (a worker computes on its weights in place) while the next arrives in the other.
public enum SharedPayloadDirection: Sendable {
    case toServer
    case toWorker

    var slots: [Int] { self == .toServer ? [0, 1] : [2, 3] }
}

/// A shared memory segment a worker makes and its server maps, when both run on one host: large payloads go
/// through it, and the socket carries only a `SharedPayloadReference` to them. Loopback TCP copies a payload
/// twice through the kernel and wakes two I/O threads; here the sender copies it once into a slot and the
/// receiver reads it in place.
///
/// The segment is an anonymous memfd, sealed so that it can neither shrink nor grow: a server maps only such a
/// file, so no worker can pull memory from under the server's mapping (which would end the server with SIGBUS).
/// It has no name to leave behind: it goes with the last process that maps it.
///
/// Layout, little-endian: a 64-byte head (magic `PSHM`, layout version, the 16-byte token, the slot size), four
/// 64-byte slot states (the generation its writer last completed, and the last one its reader released), then
/// the four slots, 64-byte aligned: 0 and 1 carry worker → server, 2 and 3 server → worker.
///
/// A writer fills a slot only once its reader has released what it held; the reader releases a payload when
/// the last reference to its frame goes. Neither side trusts the other's bookkeeping: a reference must name the
/// generation the slot holds, not yet released, and a writer that finds no free slot sends over the socket.
public final class SharedPayloadSegment: @unchecked Sendable {
    // @unchecked: used by its transport's one thread, which also sends (or drops) the frames it lends; frames it
    // received release their slot from whichever thread drops them, through atomic stores into shared memory that
    // no field of this object holds.
    static let magic: [UInt8] = Array("PSHM".utf8)
    static let layoutVersion: UInt32 = 1
    static let headBytes = 64
    static let stateBytes = 64
    static let slotCount = 4
    /// A slot holds at most 4 GiB: far above any model the message size cap lets through.
    public static let maximumSlotBytes = 1 << 32

    public let offer: SharedPayloadOffer
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    let slotBytes: Int
    /// The maker's descriptor, kept open while the segment lives so that the server can open it; -1 in the server.
    private let descriptor: Int32

    private init(offer: SharedPayloadOffer, base: UnsafeMutableRawPointer, byteCount: Int, descriptor: Int32) {
        self.offer = offer
        self.base = base
        self.byteCount = byteCount
        self.descriptor = descriptor
        slotBytes = Self.alignedSlotBytes(offer.slotBytes)
    }

    deinit {
        pstrain_shared_memory_unmap(base, byteCount)
        if descriptor >= 0 { close(descriptor) }
    }

    static func alignedSlotBytes(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }
    static func totalBytes(slotBytes: Int) -> Int { headBytes + slotCount * (stateBytes + alignedSlotBytes(slotBytes)) }

    /// Makes a new segment with slots of `slotBytes`, its memory reserved now (a memory limit fails here, not
    /// later with SIGBUS).
    public static func create(slotBytes: Int) throws -> SharedPayloadSegment {
        precondition(slotBytes > 0 && slotBytes <= maximumSlotBytes, "slot of \(slotBytes) bytes")
        var random = SystemRandomNumberGenerator()
        let token = (0 ..< 2).map { _ in String(format: "%016llx", random.next() as UInt64) }.joined()
        let bytes = totalBytes(slotBytes: slotBytes)
        var mapping: UnsafeMutableRawPointer?
        let fd = pstrain_shared_memory_create(bytes, &mapping)
        guard fd >= 0, let base = mapping else {
            throw SharedPayloadError("cannot make \(bytes >> 20) MiB of shared memory: \(String(cString: strerror(errno)))")
        }
        let offer = SharedPayloadOffer(pid: getpid(), fd: fd, token: token, slotBytes: slotBytes)
        let segment = SharedPayloadSegment(offer: offer, base: base, byteCount: bytes, descriptor: fd)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: headBytes + slotCount * stateBytes)
        base.copyMemory(from: magic, byteCount: 4)
        base.storeBytes(of: layoutVersion.littleEndian, toByteOffset: 4, as: UInt32.self)
        for (i, byte) in tokenBytes(token).enumerated() { base.storeBytes(of: byte, toByteOffset: 8 + i, as: UInt8.self) }
        base.storeBytes(of: UInt64(slotBytes).littleEndian, toByteOffset: 24, as: UInt64.self)
        return segment
    }

    /// Maps the segment a worker offered, after checking that it is the one offered: a sealed file of the offer's
    /// size, with its magic, layout and token. Fails with "not on this host" when the worker's process is not
    /// one of this host's (or of this container's).
    public static func open(_ offer: SharedPayloadOffer) throws -> SharedPayloadSegment {
        let bytes = totalBytes(slotBytes: offer.slotBytes)
        guard let base = pstrain_shared_memory_open(offer.path, bytes) else {
            let reason = switch errno {
            case ENOENT: "it is not on this host"
            case EINVAL: "it is not a shared memory file of the size offered"
            case EPERM: "it is not sealed against shrinking"
            default: String(cString: strerror(errno))
            }
            throw SharedPayloadError("cannot map the shared memory \(offer.path): \(reason)")
        }
        let segment = SharedPayloadSegment(offer: offer, base: base, byteCount: bytes, descriptor: -1)
        let head = UnsafeRawBufferPointer(start: base, count: headBytes)
        guard Array(head[0 ..< 4]) == magic, UInt32(littleEndian: head.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == layoutVersion,
              Array(head[8 ..< 24]) == tokenBytes(offer.token),
              UInt64(littleEndian: head.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) == UInt64(offer.slotBytes) else {
            throw SharedPayloadError("the shared memory \(offer.path) is not the segment offered (its head or token differs)")
        }
        return segment
    }

    private static func tokenBytes(_ token: String) -> [UInt8] {
        let digits = Array(token.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0 ..< $0 + 2], as: UTF8.self), radix: 16) ?? 0 }
    }

    private func generation(_ slot: Int) -> UnsafeMutablePointer<UInt64> {
        (base + Self.headBytes + slot * Self.stateBytes).assumingMemoryBound(to: UInt64.self)
    }

    private func released(_ slot: Int) -> UnsafeMutablePointer<UInt64> { generation(slot) + 1 }

    private func slotStart(_ slot: Int) -> UnsafeMutableRawPointer {
        base + Self.headBytes + Self.slotCount * Self.stateBytes + slot * slotBytes
    }

    /// Copies `payload` into a free slot of `direction` and returns the reference to send in its place; nil when
    /// it does not fit or both slots are still held, and the payload must go over the socket.
    public func write(_ payload: UnsafeRawBufferPointer, _ direction: SharedPayloadDirection) -> SharedPayloadReference? {
        guard payload.count <= slotBytes, let slot = freeSlot(direction) else { return nil }
        if let source = payload.baseAddress { slotStart(slot).copyMemory(from: source, byteCount: payload.count) }
        return complete(slot, byteCount: payload.count)
    }

    /// A frame of `byteCount` bytes in a free slot of `direction`, to fill and then send as a payload without
    /// copying it (`reference(completing:)`); the slot is kept for it until it is sent or dropped. Nil when it does
    /// not fit or no slot is free.
    public func lend(byteCount: Int, _ direction: SharedPayloadDirection) -> OutboundFrame? {
        guard byteCount <= slotBytes, let slot = freeSlot(direction) else { return nil }
        let lease = SlotLease(segment: self, slot: slot)
        lent.insert(slot)
        return OutboundFrame(borrowing: slotStart(slot), count: byteCount, from: lease)
    }

    /// For a frame lent by this segment: marks its payload written and returns the reference to send in its
    /// place; nil for any other frame.
    public func reference(completing frame: OutboundFrame) -> SharedPayloadReference? {
        guard let lease = frame.lender as? SlotLease, lease.segment === self, !lease.completed else { return nil }
        lease.completed = true
        lent.remove(lease.slot)
        return complete(lease.slot, byteCount: frame.count)
    }

    /// Slots lent out and not yet sent.
    private var lent: Set<Int> = []

    /// A slot of `direction` whose reader has released what it last held, and which is not lent out.
    private func freeSlot(_ direction: SharedPayloadDirection) -> Int? {
        direction.slots.first { !lent.contains($0) && pstrain_load_acquire(released($0)) == pstrain_load_acquire(generation($0)) }
    }

    /// Publishes the payload just written to `slot`: the next generation, and its reference.
    private func complete(_ slot: Int, byteCount: Int) -> SharedPayloadReference {
        let next = pstrain_load_acquire(generation(slot)) + 1
        pstrain_store_release(generation(slot), next)
        return SharedPayloadReference(slot: UInt32(slot), generation: next, byteCount: UInt64(byteCount))
    }

    /// Keeps a lent slot from other payloads until its frame is sent, or gives it back when the frame goes unsent.
    private final class SlotLease {
        let segment: SharedPayloadSegment
        let slot: Int
        var completed = false

        init(segment: SharedPayloadSegment, slot: Int) {
            self.segment = segment
            self.slot = slot
        }

        deinit { if !completed { segment.lent.remove(slot) } }
    }

    /// The payload `reference` names, if it is one of `direction`'s slots, fits it, and is the generation the slot
    /// holds and has not been released: a frame that releases the slot when it goes. Nil otherwise.
    public func read(_ reference: SharedPayloadReference, _ direction: SharedPayloadDirection) -> (any InboundFrame)? {
        let slot = Int(reference.slot)
        guard direction.slots.contains(slot), reference.byteCount <= UInt64(slotBytes),
              pstrain_load_acquire(generation(slot)) == reference.generation,
              pstrain_load_acquire(released(slot)) != reference.generation else { return nil }
        return SharedPayloadFrame(segment: self, bytes: UnsafeRawBufferPointer(start: slotStart(slot), count: Int(reference.byteCount)),
                                  release: { [self] in pstrain_store_release(released(slot), reference.generation) })
    }
}

/// A payload read in place from a shared segment; its slot is released when the frame goes.
final class SharedPayloadFrame: InboundFrame {
    private let segment: SharedPayloadSegment
    private let bytes: UnsafeRawBufferPointer
    private let release: () -> Void

    init(segment: SharedPayloadSegment, bytes: UnsafeRawBufferPointer, release: @escaping () -> Void) {
        self.segment = segment
        self.bytes = bytes
        self.release = release
    }

    deinit { release() }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(bytes) }
}
