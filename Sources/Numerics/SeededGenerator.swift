/// A seeded random number generator that yields the same stream on every machine.
///
/// The core is xoshiro256** seeded through SplitMix64. Uniform numbers come from integer bits only;
/// normal numbers use Marsaglia's polar method with `portableLog`, built from IEEE basic operations
/// alone, so no platform `libm` can change a single bit of a run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    @usableFromInline var state: (UInt64, UInt64, UInt64, UInt64)
    @usableFromInline var spareNormal: Double?

    /// Creates a generator for `seed`; each distinct `streams` list gives an independent stream
    /// (for example `[epoch, rank]` for a worker's shuffle in one epoch).
    public init(seed: UInt64, streams: UInt64...) {
        var mix = seed
        for stream in streams { mix = SeededGenerator.splitMix(&mix) ^ (stream &* 0x9E37_79B9_7F4A_7C15) }
        var s = mix
        state = (Self.splitMix(&s), Self.splitMix(&s), Self.splitMix(&s), Self.splitMix(&s))
        spareNormal = nil
    }

    @usableFromInline static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    @inlinable func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform number in `[0, 1)` with 53 random bits.
    @inlinable
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A uniform number in `[low, high)`.
    @inlinable
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * uniform()
    }

    /// A uniform integer in `0 ..< bound`, without modulo bias.
    public mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0, "integer(below:) needs a positive bound")
        let limit = UInt64(bound)
        let threshold = (0 &- limit) % limit
        while true {
            let r = next()
            if r >= threshold { return Int(r % limit) }
        }
    }

    /// A standard normal number (mean 0, standard deviation 1).
    @inlinable
    public mutating func normal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        while true {
            let u = 2 * uniform() - 1
            let v = 2 * uniform() - 1
            let s = u * u + v * v
            if s >= 1 || s == 0 { continue }
            let factor = (-2 * portableLog(s) / s).squareRoot()
            spareNormal = v * factor
            return u * factor
        }
    }

    /// A normal number with the given mean and standard deviation.
    public mutating func normal(mean: Double, standardDeviation: Double) -> Double {
        mean + standardDeviation * normal()
    }

    /// Shuffles `array` in place with Fisher–Yates (the standard library's algorithm may change between releases).
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, integer(below: i + 1))
        }
    }
}

/// Natural logarithm of a positive finite `x`, from IEEE basic operations only (same bits everywhere).
///
/// Splits `x = m * 2^e` with `m` in `[sqrt(1/2), sqrt(2))` and sums the series
/// `log m = 2 * atanh((m - 1) / (m + 1))` far enough for full double precision.
public func portableLog(_ x: Double) -> Double {
    precondition(x > 0 && x.isFinite, "portableLog needs a positive finite number, got \(x)")
    // Read `x = m * 2^e` from the bits (for a normal number they hold both as they are): the `exponent` and
    // `significand` properties are calls, and took a tenth of generating synthetic data.
    let biasedExponent = Int(x.bitPattern >> 52)
    var exponent = biasedExponent == 0 ? Int(x.exponent) : biasedExponent - 1023
    // The significand's bits under the exponent of 1.
    var m = biasedExponent == 0 ? x.significand : Double(bitPattern: x.bitPattern & 0x000F_FFFF_FFFF_FFFF | 0x3FF0_0000_0000_0000)
    if m > 1.4142135623730951 {
        m /= 2
        exponent += 1
    }
    let s = (m - 1) / (m + 1)
    let s2 = s * s
    // Horner's rule over 1/29, 1/27, ..., 1/3, written out so that the reciprocals are constants folded at compile
    // time (correctly rounded, as dividing at run time gives), not a division each.
    var series = (1.0 / 29) * s2
    series = (series + 1.0 / 27) * s2
    series = (series + 1.0 / 25) * s2
    series = (series + 1.0 / 23) * s2
    series = (series + 1.0 / 21) * s2
    series = (series + 1.0 / 19) * s2
    series = (series + 1.0 / 17) * s2
    series = (series + 1.0 / 15) * s2
    series = (series + 1.0 / 13) * s2
    series = (series + 1.0 / 11) * s2
    series = (series + 1.0 / 9) * s2
    series = (series + 1.0 / 7) * s2
    series = (series + 1.0 / 5) * s2
    series = (series + 1.0 / 3) * s2
    let logM = 2 * s * (1 + series)
    return Double(exponent) * 0.6931471805599453 + logM
}
