import Numerics
import Testing

/// Checks every transpose combination of the BLAS wrapper against a plain reference product.
@Suite struct GemmTests {
    func reference(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int, ta: Bool, tb: Bool) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0 ..< m {
            for j in 0 ..< n {
                for p in 0 ..< k {
                    let aip = ta ? a[p * m + i] : a[i * k + p]
                    let bpj = tb ? b[j * k + p] : b[p * n + j]
                    c[i * n + j] += aip * bpj
                }
            }
        }
        return c
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesReference(ta: Bool, tb: Bool) {
        let m = 5, n = 3, k = 4
        var rng = SeededGenerator(seed: 9)
        let a = (0 ..< m * k).map { _ in rng.normal() }
        let b = (0 ..< k * n).map { _ in rng.normal() }
        var c = [Double](repeating: 1, count: m * n)
        Double.gemm(ta ? .transposed : .none, tb ? .transposed : .none, m: m, n: n, k: k,
                    alpha: 2, a: a, lda: ta ? m : k, b: b, ldb: tb ? k : n, beta: 0.5, c: &c, ldc: n)
        let expected = reference(a, b, m: m, n: n, k: k, ta: ta, tb: tb).map { 2 * $0 + 0.5 }
        for (x, y) in zip(c, expected) { #expect(abs(x - y) < 1e-12) }

        let af = a.map(Float.init), bf = b.map(Float.init)
        var cf = [Float](repeating: 1, count: m * n)
        Float.gemm(ta ? .transposed : .none, tb ? .transposed : .none, m: m, n: n, k: k,
                   alpha: 2, a: af, lda: ta ? m : k, b: bf, ldb: tb ? k : n, beta: 0.5, c: &cf, ldc: n)
        for (x, y) in zip(cf, expected) { #expect(abs(Double(x) - y) < 1e-4) }
    }

    @Test func blasThreadCountCanBeSet() {
        BLAS.setThreadCount(1)
        #expect(BLAS.threadCount == 1)
    }
}
