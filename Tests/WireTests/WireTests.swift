import Testing
import Wire

@Suite struct WireTests {
    func decode(_ frames: [[UInt8]], limit: Int = 1 << 20) throws(WireError) -> Message {
        // The frames outlive the raw views only inside this call, which is all the tests need.
        let copies = frames.map { bytes -> UnsafeRawBufferPointer in
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
            storage.copyBytes(from: bytes)
            return UnsafeRawBufferPointer(storage)
        }
        return try Message.decode(copies, maxPayloadBytes: limit)
    }

    func rejected(_ frames: [[UInt8]], limit: Int = 1 << 20) -> WireError? {
        do { _ = try decode(frames, limit: limit) } catch { return error }
        return nil
    }

    func header(_ kind: MessageKind, _ type: ElementType = .none, count: UInt64 = 0) -> Header {
        Header(kind: kind, jobID: 0xFEED_F00D, sender: 3, shard: 1, elementType: type, version: 41, aux: 32, count: count, layoutHash: 0xABCD, value: 0.25)
    }

    @Test(arguments: MessageKind.allCases)
    func everyKindRoundTrips(kind: MessageKind) throws {
        let type = kind.allowedPayloads.contains(.float32) ? ElementType.float32 : (kind.allowedPayloads.contains(.utf8) ? .utf8 : .none)
        let payload: [UInt8] = switch type {
        case .float32: [1.5, -2, 0].flatMap { (f: Float) in withUnsafeBytes(of: f.bitPattern.littleEndian, Array.init) }
        case .utf8: Array("{\"rank\":3}".utf8)
        default: []
        }
        let h = header(kind, type, count: UInt64(type == .none ? 0 : payload.count / type.size))
        let bytes = h.encoded()
        #expect(bytes.count == 64 && Array(bytes[0 ..< 4]) == Array("PSTR".utf8))
        let message = try decode(type == .none ? [bytes] : [bytes, payload])
        #expect(message.header == h)
        switch type {
        case .float32:
            var floats = [Float](repeating: 0, count: 3)
            floats.withUnsafeMutableBufferPointer { message.copyFloats(into: $0) }
            #expect(floats == [1.5, -2, 0])
        case .utf8: #expect(message.text == "{\"rank\":3}")
        default: #expect(message.payload == nil)
        }
    }

    @Test func headerFieldsSitAtTheirDocumentedOffsets() {
        let bytes = header(.push, .float32, count: 5).encoded()
        #expect(bytes[4] == 2 && bytes[5] == 0, "protocol version 2, little-endian")
        #expect(bytes[6] == 6, "kind push")
        #expect(bytes[16] == 3 && bytes[22] == 1 && bytes[24] == 41 && bytes[32] == 32 && bytes[40] == 5 && bytes[48] == 0xCD)
        #expect(Array(bytes[56 ..< 64]) == withUnsafeBytes(of: (0.25).bitPattern.littleEndian, Array.init))
    }

    @Test func malformedHeadersAreRejected() {
        let good = header(.pull).encoded()
        func with(_ offset: Int, _ value: UInt8) -> [UInt8] {
            var bytes = good
            bytes[offset] = value
            return bytes
        }
        #expect(rejected([]) == .noFrames)
        #expect(rejected([Array(good.prefix(63))]) == .headerSize(63))
        #expect(rejected([good + [0]]) == .headerSize(65))
        #expect(rejected([with(0, UInt8(ascii: "X"))]) == .badMagic(Array("XSTR".utf8)))
        #expect(rejected([with(4, 1)]) == .protocolVersion(1))
        #expect(rejected([with(6, 99)]) == .unknownKind(99))
        #expect(rejected([with(6, 0)]) == .unknownKind(0))
        #expect(rejected([with(22, 7)]) == .unknownElementType(7))
        #expect(rejected([with(23, 1)]) == .reservedBitsSet)
        #expect(rejected([with(22, 1)]) == .payloadNotAllowed(.pull, .float32))
        #expect(rejected([with(40, 1)]) == .lengthMismatch(expectedBytes: 0, actualBytes: 1))
        #expect(rejected([good, [1, 2]]) == .unexpectedPayload)
        #expect(rejected([good, [], []]) == .tooManyFrames(3))
    }

    @Test func payloadLengthsMustAgreeWithTheHeader() {
        let weights = header(.weights, .float32, count: 4).encoded()
        #expect(rejected([weights]) == .missingPayload)
        #expect(rejected([weights, [UInt8](repeating: 0, count: 15)]) == .lengthMismatch(expectedBytes: 16, actualBytes: 15))
        #expect(rejected([weights, [UInt8](repeating: 0, count: 17)]) == .lengthMismatch(expectedBytes: 16, actualBytes: 17))
        #expect(rejected([weights, [UInt8](repeating: 0, count: 16)], limit: 8) == .oversize(bytes: 16, limit: 8))
        // A count chosen to overflow `count * 4` must be refused, not multiplied.
        let huge = header(.push, .float32, count: UInt64.max / 2).encoded()
        #expect(rejected([huge, [0, 0, 0, 0]]) == .oversize(bytes: Int.max, limit: 1 << 20))
        #expect(rejected([header(.refuse, .float32, count: 1).encoded(), [0, 0, 0, 0]]) == .payloadNotAllowed(.refuse, .float32))
    }

    @Test func everyReasonHasAStableNameAndAnExplanation() {
        let errors: [WireError] = [.noFrames, .tooManyFrames(3), .headerSize(1), .badMagic([0]), .protocolVersion(9), .unknownKind(0),
                                   .unknownElementType(9), .reservedBitsSet, .payloadNotAllowed(.pull, .utf8), .missingPayload,
                                   .unexpectedPayload, .lengthMismatch(expectedBytes: 1, actualBytes: 2), .oversize(bytes: 2, limit: 1),
                                   .sparseEntries("index 3 after 4")]
        #expect(Set(errors.map(\.reason)).count == errors.count)
        #expect(WireError.protocolVersion(9).description.contains("this pstrain speaks 2"))
    }
}
