import Foundation
import Numerics
import Testing

@Suite struct SeededGeneratorTests {
    @Test func sameSeedGivesSameStreamAndStreamsDiffer() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 42, streams: 1)
        let xs = (0 ..< 100).map { _ in a.next() }
        #expect(xs == (0 ..< 100).map { _ in b.next() })
        #expect(xs != (0 ..< 100).map { _ in c.next() })
    }

    /// Pins the stream: if these bits change, every seeded run in every user's history changes with them.
    @Test func streamIsPinned() {
        var rng = SeededGenerator(seed: 0)
        #expect((0 ..< 3).map { _ in rng.next() } == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0])
        var normals = SeededGenerator(seed: 7)
        #expect((0 ..< 4).map { _ in normals.normal().bitPattern }
            == [0x3FEE_DC0D_635E_EA0B, 0xBFF1_0522_12A3_0FDE, 0xBFD3_7397_5591_6C21, 0xBFF1_9560_DAD0_2138])
    }

    /// Pins `portableLog`'s bits, which every normal number goes through, across its branches: a subnormal input,
    /// the fold of a significand above the square root of 2, and exponents far either way.
    @Test func portableLogIsPinned() {
        let inputs = [1e-300, 0.1, 0.75, 1.5, 3, 1e300, 5e-324]
        #expect(inputs.map { portableLog($0).bitPattern }
            == [0xC085_9634_47F8_7FB5, 0xC002_6BB1_BBB5_5515, 0xBFD2_6962_1134_DB92, 0x3FD9_F323_ECBF_984C, 0x3FF1_93EA_7AAD_030A,
                0x4085_9634_47F8_7FB5, 0xC087_4385_446D_71C3])
    }

    @Test func portableLogMatchesLibmWithinAnUlpOrTwo() {
        var rng = SeededGenerator(seed: 1)
        for _ in 0 ..< 10_000 {
            let x = rng.uniform() * 1e3 + 1e-300
            let expected = Foundation.log(x)
            #expect(abs(portableLog(x) - expected) <= 4 * abs(expected).ulp + 1e-300, "log(\(x))")
        }
        #expect(portableLog(1) == 0)
        #expect(abs(portableLog(1e-300) - Foundation.log(1e-300)) < 1e-12)
    }

    @Test func uniformAndNormalHaveTheRightMoments() {
        var rng = SeededGenerator(seed: 3)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0, uSum = 0.0
        for _ in 0 ..< n {
            let z = rng.normal()
            sum += z; sumSq += z * z
            let u = rng.uniform()
            #expect(u >= 0 && u < 1)
            uSum += u
        }
        #expect(abs(sum / Double(n)) < 0.01)
        #expect(abs(sumSq / Double(n) - 1) < 0.02)
        #expect(abs(uSum / Double(n) - 0.5) < 0.01)
    }

    @Test func integerBelowIsInRangeAndShuffleIsAPermutation() {
        var rng = SeededGenerator(seed: 5)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0 ..< 70_000 { counts[rng.integer(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 })
        var items = Array(0 ..< 100)
        rng.shuffle(&items)
        #expect(items != Array(0 ..< 100))
        #expect(items.sorted() == Array(0 ..< 100))
    }
}
