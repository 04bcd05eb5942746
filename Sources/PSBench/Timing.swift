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

/// Seconds per call of `first` and of `second`, measured in alternating rounds of `round` seconds over `seconds`
/// in all (after a warm-up of each), so that both meet the same moments of a shared, noisy machine: the median
/// of each one's rounds.
func alternatingSecondsPerCall(seconds: Double, round: Double = 0.1, warmUp: Double, _ first: () throws -> Void,
                               _ second: () throws -> Void) rethrows -> (first: Double, second: Double) {
    _ = try callsPerSecond(seconds: 0, warmUp: warmUp, first)
    _ = try callsPerSecond(seconds: 0, warmUp: warmUp, second)
    var firstRounds: [Double] = [], secondRounds: [Double] = []
    let start = Date()
    repeat {
        firstRounds.append(1 / (try callsPerSecond(seconds: round, warmUp: 0, first)))
        secondRounds.append(1 / (try callsPerSecond(seconds: round, warmUp: 0, second)))
    } while Date().timeIntervalSince(start) < seconds
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    return (median(firstRounds), median(secondRounds))
}
