import Foundation
import Testing
import Wire

/// The compressed payloads: half precision against Swift's own Float16, top-k selection, error feedback, and
/// rejection of malformed sparse payloads.
@Suite struct PayloadCodecTests {
    /// A message of `type` with `count` elements over `payload`, decoded as the server would.
    func message(_ type: ElementType, count: Int, _ payload: [UInt8], body: (Message) throws -> Void) throws {
        let header = Header(kind: .push, jobID: 1, sender: 0, elementType: type, count: UInt64(count)).encoded()
        try header.withUnsafeBytes { h in
            try payload.withUnsafeBytes { p in try body(try Message.decode([h, p], maxPayloadBytes: 1 << 20)) }
        }
    }

    @Test func everyHalfDecodesAsSwiftsFloat16Does() {
        for bits in 0 ... UInt16.max {
            let ours = PayloadCodec.float(halfBits: bits), reference = Float(Float16(bitPattern: bits))
            #expect(ours.bitPattern == reference.bitPattern || (ours.isNaN && reference.isNaN), "half \(bits)")
        }
    }

    @Test func floatsRoundToTheNearestHalfAsSwiftsFloat16Does() {
        var generator = SystemRandomNumberGenerator()
        var samples: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e-8, 2.98e-8, 5.96e-8, 6.1e-5, 6.09e-5, .infinity,
                                -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        for _ in 0 ..< 200_000 { samples.append(Float(bitPattern: generator.next() & 0x7FFF_FFFF | (generator.next() & 1) << 31)) }
        for value in samples where !value.isNaN {
            // Finite values beyond the half range are sent as its limit, where Float16 would round them to infinity.
            let reference = Float16(value.isFinite ? min(max(value, -PayloadCodec.float16Max), PayloadCodec.float16Max) : value)
            #expect(PayloadCodec.halfBits(value) == reference.bitPattern, "float \(value) (\(value.bitPattern))")
        }
        #expect(PayloadCodec.float(halfBits: PayloadCodec.halfBits(.nan)).isNaN)
    }

    /// The F16C path (where this CPU has it) and the portable one give the same halves, decoded values, residuals
    /// and sums of squares, for every kind of value and a length that is not a multiple of eight.
    @Test(.enabled(if: PayloadCodec.halfHardware, "this CPU has no F16C: only the portable path runs here"))
    func hardwareAndPortableHalvesAgree() throws {
        var generator = SystemRandomNumberGenerator()
        var values: [Float] = [0, -0, 65504, 65520, -1e6, 1e-8, 3e-5, .infinity, -.infinity, .nan, .greatestFiniteMagnitude]
        for _ in 0 ..< 100_001 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))) }
        func encode(hardware: Bool) -> (halves: [UInt8], decoded: [Float], residual: [Float]) {
            var decoded = values, residual = [Float](repeating: 0, count: values.count), halves = [UInt8](repeating: 0, count: 2 * values.count)
            decoded.withUnsafeMutableBufferPointer { v in
                residual.withUnsafeMutableBufferPointer { r in
                    halves.withUnsafeMutableBytes { PayloadCodec.encodeFloat16(v, residual: r, into: $0, hardware: hardware) }
                }
            }
            return (halves, decoded, residual)
        }
        let (hardware, portable) = (encode(hardware: true), encode(hardware: false))
        func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
        for i in values.indices {
            let a = UInt16(hardware.halves[2 * i]) | UInt16(hardware.halves[2 * i + 1]) << 8
            let b = UInt16(portable.halves[2 * i]) | UInt16(portable.halves[2 * i + 1]) << 8
            let nan = a & 0x7C00 == 0x7C00 && a & 0x3FF != 0
            #expect(a == b || (nan && b & 0x7C00 == 0x7C00 && b & 0x3FF != 0), "value \(values[i]): \(a) and \(b)")
            #expect(same(hardware.decoded[i], portable.decoded[i]) && same(hardware.residual[i], portable.residual[i]), "value \(values[i])")
        }
        try message(.float16, count: values.count, hardware.halves) { m in
            var one = [Float](repeating: 1, count: values.count), other = one
            let x = try one.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: true, hardware: true) }
            let y = try other.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: true, hardware: false) }
            #expect(zip(one, other).allSatisfy { same($0, $1) })
            #expect(x.isNaN && y.isNaN, "the NaN among the values shows in both sums")
        }
        // Without the infinities and NaN the sums agree to rounding (they add in different orders).
        values = values.map { $0.isFinite ? $0 : 1 }
        let finite = encode(hardware: true).halves
        try message(.float16, count: values.count, finite) { m in
            var scratch = [Float](repeating: 0, count: values.count)
            let x = try scratch.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: false, hardware: true) }
            let y = try scratch.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: false, hardware: false) }
            #expect(x.isFinite && abs(x - y) <= 1e-12 * y, "sums of squares \(x) and \(y)")
        }
    }

    /// Ten values: the hardware path takes eight at a time, then the last two one by one; both must agree.
    @Test func float16KeepsWhatRoundingTookOffAsResidual() throws {
        let five: [Float] = [1.0 / 3, -70000, 1e-9, .nan, 2]
        var values = five + five
        var residual = [Float](repeating: 9, count: values.count)
        var bytes = [UInt8](repeating: 0, count: 2 * values.count)
        values.withUnsafeMutableBufferPointer { v in
            residual.withUnsafeMutableBufferPointer { r in bytes.withUnsafeMutableBytes { PayloadCodec.encodeFloat16(v, residual: r, into: $0) } }
        }
        for offset in [0, 5] {
            #expect(values[offset + 1] == -65504 && residual[offset + 1] == -70000 + 65504, "finite values beyond the half range are sent as its limit")
            #expect(values[offset + 2] == 0 && residual[offset + 2] == 1e-9, "too small for a half: kept for later")
            #expect(values[offset + 3].isNaN && residual[offset + 3] == 0, "NaN reaches the receiver and is not carried on")
            for i in [0, 1, 2, 4] { #expect(values[offset + i] + residual[offset + i] == five[i]) }
        }
        var decoded = [Float](repeating: 0, count: values.count)
        try message(.float16, count: values.count, bytes) { m in
            let squares = try decoded.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: false) }
            #expect(squares.isNaN, "a NaN in the payload makes the sum of squares non-finite")
        }
        #expect(values.indices.allSatisfy { decoded[$0] == values[$0] || (decoded[$0].isNaN && values[$0].isNaN) })
    }

    func topK(_ values: [Float], k: Int) -> (sent: [Float], residual: [Float], bytes: [UInt8]) {
        var sent = values, residual = [Float](repeating: 7, count: values.count), scratch = [Float](repeating: 0, count: values.count)
        var bytes = [UInt8](repeating: 0, count: 8 * k)
        sent.withUnsafeMutableBufferPointer { v in
            residual.withUnsafeMutableBufferPointer { r in
                scratch.withUnsafeMutableBufferPointer { s in bytes.withUnsafeMutableBytes { PayloadCodec.encodeTopK(v, k: k, residual: r, scratch: s, into: $0) } }
            }
        }
        return (sent, residual, bytes)
    }

    @Test func topKSendsTheLargestMagnitudesLowerIndicesFirstOnTies() throws {
        let values: [Float] = [0.5, -3, 2, 0.5, -0.5, 1, .nan, 0]
        let (sent, residual, bytes) = topK(values, k: 4)
        #expect(sent[1] == -3 && sent[2] == 2 && sent[5] == 1 && sent[6].isNaN, "NaN counts as the largest")
        #expect(sent.enumerated().filter { ![1, 2, 5, 6].contains($0.offset) }.allSatisfy { $0.element == 0 })
        #expect(residual[1] == 0 && residual[0] == 0.5 && residual[3] == 0.5 && residual[4] == -0.5)
        let (tie, _, _) = topK(values, k: 5)
        #expect(tie[0] == 0.5 && tie[3] == 0 && tie[4] == 0, "of the three equal magnitudes, index 0 goes")
        var decoded = [Float](repeating: 4, count: values.count)
        try message(.sparseFloat32, count: 4, bytes) { m in
            _ = try decoded.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: false) }
        }
        #expect(decoded[1] == -3 && decoded[2] == 2 && decoded[5] == 1 && decoded[6].isNaN && decoded[0] == 0 && decoded[7] == 0)
        #expect(PayloadCodec.topKCount(of: 1000, fraction: 0.01) == 10 && PayloadCodec.topKCount(of: 5, fraction: 0.01) == 1)
        #expect(PayloadCodec.topKCount(of: 5, fraction: 1) == 5 && PayloadCodec.topKCount(of: 0, fraction: 0.5) == 0)
    }

    @Test func topKAgreesWithSortingOnRandomVectors() {
        var generator = SystemRandomNumberGenerator()
        for trial in 0 ..< 200 {
            let n = 1 + Int(generator.next() % 300)
            // Few distinct values, so that ties are common.
            let values = (0 ..< n).map { _ in Float(Int(generator.next() % 21) - 10) / 4 }
            let k = 1 + Int(generator.next() % UInt64(n))
            let order = values.indices.sorted { (abs(values[$0]), -$0) > (abs(values[$1]), -$1) }
            let expected = Set(order.prefix(k))
            let (sent, residual, _) = topK(values, k: k)
            let chosen = Set(values.indices.filter { expected.contains($0) })
            #expect(values.indices.allSatisfy { chosen.contains($0) ? sent[$0] == values[$0] && residual[$0] == 0 : sent[$0] == 0 && residual[$0] == values[$0] },
                    "trial \(trial): n \(n), k \(k)")
        }
    }

    /// Error feedback: over many rounds, what was received plus what is still held back is exactly what was meant
    /// to be sent, for both encodings.
    @Test(arguments: [ElementType.float16, .sparseFloat32])
    func errorFeedbackLosesNothingOverTime(type: ElementType) {
        var generator = SystemRandomNumberGenerator()
        let n = 64
        var residual = [Float](repeating: 0, count: n), scratch = [Float](repeating: 0, count: n)
        var meant = [Double](repeating: 0, count: n), received = [Double](repeating: 0, count: n)
        for _ in 0 ..< 500 {
            var values = (0 ..< n).map { _ in Float(Double(generator.next() % 2001) / 1000 - 1) * 1e-3 }
            for i in 0 ..< n { meant[i] += Double(values[i]) }
            for i in 0 ..< n { values[i] += residual[i] }
            let k = PayloadCodec.topKCount(of: n, fraction: 0.1)
            var bytes = [UInt8](repeating: 0, count: type == .float16 ? 2 * n : 8 * k)
            values.withUnsafeMutableBufferPointer { v in
                residual.withUnsafeMutableBufferPointer { r in
                    bytes.withUnsafeMutableBytes { out in
                        if type == .float16 {
                            PayloadCodec.encodeFloat16(v, residual: r, into: out)
                        } else {
                            scratch.withUnsafeMutableBufferPointer { PayloadCodec.encodeTopK(v, k: k, residual: r, scratch: $0, into: out) }
                        }
                    }
                }
            }
            for i in 0 ..< n { received[i] += Double(values[i]) }
        }
        for i in 0 ..< n {
            #expect(abs(received[i] + Double(residual[i]) - meant[i]) < 1e-6, "entry \(i)")
        }
        #expect(residual.map { abs($0) }.max()! < 0.05, "the residual stays bounded")
    }

    @Test func malformedSparsePayloadsAreRejected() throws {
        func pairs(_ entries: [(UInt32, Float)]) -> [UInt8] {
            entries.flatMap { withUnsafeBytes(of: $0.0.littleEndian, Array.init) + withUnsafeBytes(of: $0.1.bitPattern.littleEndian, Array.init) }
        }
        func reason(_ entries: [(UInt32, Float)], length n: Int) throws -> String? {
            var result: String?
            try message(.sparseFloat32, count: entries.count, pairs(entries)) { m in
                var destination = [Float](repeating: 0, count: n)
                do { _ = try destination.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: true) } } catch let error as WireError {
                    result = error.description
                    #expect(error.reason == "bad_sparse" || error.reason == "length_mismatch")
                }
            }
            return result
        }
        #expect(try reason([(0, 1), (3, 2)], length: 4) == nil)
        #expect(try reason([(0, 1), (4, 2)], length: 4) == "sparse payload: index 4 beyond the vector's 4 values")
        #expect(try reason([(2, 1), (1, 2)], length: 4) == "sparse payload: index 1 after 2: indices must ascend")
        #expect(try reason([(2, 1), (2, 2)], length: 4) == "sparse payload: index 2 after 2: indices must ascend")
        #expect(try reason([(0, 1), (1, 1), (2, 1)], length: 2) == "sparse payload: 3 entries for a vector of 2")
        try message(.float16, count: 3, [0, 0, 0, 0, 0, 0]) { m in
            var destination = [Float](repeating: 0, count: 4)
            #expect(throws: WireError.self) { try destination.withUnsafeMutableBufferPointer { try PayloadCodec.decode(m, into: $0, adding: false) } }
        }
    }
}
