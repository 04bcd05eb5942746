import CHalfPrecision

/// The compressed float payloads: half precision (`float16`), and the k largest-magnitude entries as index/value
/// pairs (`sparseFloat32`).
///
/// Encoders work with error feedback: they take the values to send, leave in them exactly what the receiver will
/// decode, and put what was not sent in `residual`, which the sender adds to its next values. Nothing is lost over
/// time, only delayed (Seide et al. 2014, "1-bit SGD"; Stich et al. 2018, "Sparsified SGD with memory").
public enum PayloadCodec {
    /// Whether this CPU converts halves in hardware (x86 F16C); otherwise a portable path rounds the same way.
    public static let halfHardware = pstrain_half_hardware() != 0

    /// The largest finite half-precision value. Larger finite values are sent as this, the excess kept as residual;
    /// infinities and NaN go through as they are, so the receiver sees them.
    public static let float16Max: Float = 65504

    // MARK: Half precision

    /// Encodes `values` (plus nothing else: add the residual first) as little-endian IEEE 754 binary16, rounding to
    /// nearest even, into `out` (2 bytes each, 2-byte aligned). Leaves the decoded values in `values` and, when
    /// given, what rounding took off in `residual`.
    /// `hardware` picks the F16C path where there is one (the tests compare both).
    public static func encodeFloat16(_ values: UnsafeMutableBufferPointer<Float>, residual: UnsafeMutableBufferPointer<Float>?,
                                     into out: UnsafeMutableRawBufferPointer, hardware: Bool = halfHardware) {
        precondition(out.count == 2 * values.count, "encodeFloat16: \(out.count) bytes for \(values.count) values")
        precondition(residual.map { $0.count == values.count } ?? true, "encodeFloat16: residual of another length")
        guard values.count > 0, let start = out.baseAddress, let base = values.baseAddress else { return }
        precondition(Int(bitPattern: start) % 2 == 0, "encodeFloat16: output not 2-byte aligned")
        let halves = start.assumingMemoryBound(to: UInt16.self)
        #if _endian(little)
        if hardware && halfHardware { return pstrain_encode_half(base, residual?.baseAddress, halves, values.count) }
        #endif
        if let residual {
            for i in 0 ..< values.count {
                let v = values[i], bits = halfBits(v), decoded = float(halfBits: bits)
                halves[i] = bits.littleEndian
                values[i] = decoded
                residual[i] = Int32(bitPattern: v.bitPattern) & 0x7F80_0000 != 0x7F80_0000 ? v - decoded : 0
            }
        } else {
            for i in 0 ..< values.count {
                let bits = halfBits(values[i])
                halves[i] = bits.littleEndian
                values[i] = float(halfBits: bits)
            }
        }
    }

    /// The binary16 bits nearest to `value` (ties to even); finite values beyond the half range become its largest
    /// value, infinities stay infinite and NaN stays NaN. Branch-free (every case is computed, then one chosen), in
    /// signed integers, which the baseline x86-64 vector instructions compare and convert.
    @inlinable @inline(__always)
    public static func halfBits(_ value: Float) -> UInt16 {
        let bits = Int32(bitPattern: value.bitPattern)
        let sign = bits & Int32.min
        var f = bits ^ sign
        let largest = Int32(bitPattern: float16Max.bitPattern), infinity: Int32 = 0x7F80_0000
        f = f > largest && f < infinity ? largest : f
        // A normal half: rebias the exponent and round the mantissa to nearest even.
        let normal = (f &+ ((15 - 127) << 23) &+ 0xFFF &+ ((f &>> 13) & 1)) &>> 13
        // A half subnormal or zero: let the FPU round by adding a magic number that shifts the bits into place.
        let magic: Int32 = ((127 - 15) + (23 - 10) + 1) << 23
        let subnormal = Int32(bitPattern: (Float(bitPattern: UInt32(bitPattern: f)) + Float(bitPattern: UInt32(bitPattern: magic))).bitPattern) &- magic
        let special: Int32 = f > infinity ? 0x7E00 : 0x7C00
        let result = f >= (127 + 16) << 23 ? special : (f < 113 << 23 ? subnormal : normal)
        return UInt16(truncatingIfNeeded: result | sign &>> 16)
    }

    /// The float a binary16 value stands for (exactly: every half is a float). Branch-free, as `halfBits`.
    @inlinable @inline(__always)
    public static func float(halfBits h: UInt16) -> Float {
        let wide = Int32(h)
        let sign = (wide & 0x8000) &<< 16, exponent = wide & 0x7C00, mantissa = wide & 0x03FF
        let normal = (((exponent &>> 10) &+ 112) &<< 23) | mantissa &<< 13
        let special = 0x7F80_0000 | mantissa &<< 13
        let subnormal = Int32(bitPattern: (Float(mantissa) * 0x1p-24).bitPattern)
        return Float(bitPattern: UInt32(bitPattern: (exponent == 0x7C00 ? special : (exponent == 0 ? subnormal : normal)) | sign))
    }

    // MARK: Top-k

    /// How many entries of `count` a top-k payload carries for `fraction`: at least one, at most all.
    public static func topKCount(of count: Int, fraction: Double) -> Int {
        guard count > 0 else { return 0 }
        return min(count, max(1, Int((fraction * Double(count)).rounded(.up))))
    }

    /// Encodes the `k` largest-magnitude entries of `values` as pairs (little-endian UInt32 index, float32 value) in
    /// ascending index order into `out` (8 bytes each). Of equal magnitudes the lower indices go first; NaN counts as
    /// infinite, so that the receiver sees it. Leaves the sent entries in `values` and zero elsewhere; what was not
    /// sent goes to `residual` (zero where sent). `scratch` holds `values.count` floats and is overwritten.
    public static func encodeTopK(_ values: UnsafeMutableBufferPointer<Float>, k: Int, residual: UnsafeMutableBufferPointer<Float>?,
                                  scratch: UnsafeMutableBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer) {
        let n = values.count
        precondition(k >= 0 && k <= n && out.count == 8 * k && scratch.count >= n, "encodeTopK: k \(k) of \(n), \(out.count) bytes out")
        precondition(residual.map { $0.count == n } ?? true, "encodeTopK: residual of another length")
        guard k > 0 else {
            if let residual { _ = residual.update(fromContentsOf: values) }
            values.update(repeating: 0)
            return
        }
        // Magnitudes compare as their bit patterns do, so the selection runs on integers.
        let threshold = scratch.withMemoryRebound(to: UInt32.self) { keys in
            for i in 0 ..< n { keys[i] = key(values[i]) }
            return kthLargest(UnsafeMutableBufferPointer(rebasing: keys[0 ..< n]), k: k)
        }
        var above = 0
        for i in 0 ..< n { above &+= key(values[i]) > threshold ? 1 : 0 }
        var equalsLeft = k - above, written = 0
        for i in 0 ..< n {
            let v = values[i], m = key(v)
            var sent = m > threshold
            if !sent && m == threshold && equalsLeft > 0 {
                sent = true
                equalsLeft -= 1
            }
            if sent {
                out.storeBytes(of: UInt32(i).littleEndian, toByteOffset: 8 * written, as: UInt32.self)
                out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 8 * written + 4, as: UInt32.self)
                written += 1
                residual?[i] = 0
            } else {
                residual?[i] = v
                values[i] = 0
            }
        }
        assert(written == k, "encodeTopK wrote \(written) of \(k)")
    }

    /// The ordering key of top-k: the magnitude's bit pattern (which orders as the magnitude does), NaN as infinity.
    @inlinable
    static func key(_ v: Float) -> UInt32 { min(v.bitPattern & 0x7FFF_FFFF, 0x7F80_0000) }

    /// The `k`-th largest of `a` (1-based), by quickselect with a median-of-three pivot; reorders `a`.
    static func kthLargest(_ a: UnsafeMutableBufferPointer<UInt32>, k: Int) -> UInt32 {
        var lo = 0, hi = a.count - 1
        let target = k - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            let pivot = max(min(a[lo], a[mid]), min(max(a[lo], a[mid]), a[hi]))
            var i = lo, j = hi
            while i <= j {
                while a[i] > pivot { i += 1 }
                while a[j] < pivot { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if target <= j {
                hi = j
            } else if target >= i {
                lo = i
            } else {
                return a[target]
            }
        }
        return a[target]
    }

    // MARK: Decoding

    /// Decodes a float16 or sparse payload (float32 ones are read where they lie) of a vector of `destination.count` values into `destination`: written
    /// over it (sparse: zero elsewhere), or with `adding`, added to it. Returns the sum of squares of the decoded
    /// values, in Double: finite only if every decoded value is. A sparse payload must name each index below
    /// `destination.count` once, in ascending order.
    public static func decode(_ message: Message, into destination: UnsafeMutableBufferPointer<Float>,
                              adding: Bool, hardware: Bool = halfHardware) throws(WireError) -> Double {
        guard let payload = message.payload else { return 0 }
        let count = Int(message.header.count), n = destination.count
        var sumOfSquares = 0.0
        switch message.header.elementType {
        case .float16:
            guard count == n else { throw .lengthMismatch(expectedBytes: 2 * n, actualBytes: payload.count) }
            #if _endian(little)
            if hardware && halfHardware, let to = destination.baseAddress, let from = payload.baseAddress {
                return pstrain_decode_half(from, to, n, adding ? 1 : 0)
            }
            #endif
            for i in 0 ..< n {
                let v = float(halfBits: UInt16(littleEndian: payload.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                sumOfSquares += Double(v) * Double(v)
                destination[i] = adding ? destination[i] + v : v
            }
        case .sparseFloat32:
            guard count <= n else { throw .sparseEntries("\(count) entries for a vector of \(n)") }
            var previous = -1
            for e in 0 ..< count {
                let index = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 8 * e, as: UInt32.self)))
                guard index > previous, index < n else {
                    throw .sparseEntries(index >= n ? "index \(index) beyond the vector's \(n) values"
                                         : "index \(index) after \(previous): indices must ascend")
                }
                previous = index
            }
            if !adding { destination.update(repeating: 0) }
            for e in 0 ..< count {
                let index = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 8 * e, as: UInt32.self)))
                let v = Float(bitPattern: UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 8 * e + 4, as: UInt32.self)))
                sumOfSquares += Double(v) * Double(v)
                destination[index] += v
            }
        case .none, .utf8, .float32:
            throw .payloadNotAllowed(message.header.kind, message.header.elementType)
        }
        return sumOfSquares
    }
}
