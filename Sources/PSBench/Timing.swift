import Foundation

/// How often a benchmark body runs per second: measured for `seconds` after a warm-up of `warmUp` seconds.
func callsPerSecond(seconds: Double, warmUp: Double, _ body: () throws -> Void) rethrows -> Double {
    let warmUpStart = Date()
    while Date().timeIntervalSince(warmUpStart) < warmUp { try body() }
    var calls = 0
    let start = Date()
    while Date().timeIntervalSince(start) < seconds {
        try body()
        calls += 1
    }
    return Double(calls) / Date().timeIntervalSince(start)
}
