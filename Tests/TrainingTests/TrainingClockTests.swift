import Foundation
import Testing
import Training

@Suite struct TrainingClockTests {
    let start = Date(timeIntervalSinceReferenceDate: 1_000)

    @Test func lapsCoverEverythingBetweenThem() {
        var clock = TrainingClock(startingAt: start)
        // The time between two steps (bookkeeping, a checkpoint) belongs to the next lap.
        #expect(clock.lap(at: start + 0.5) == 0.5)
        #expect(clock.lap(at: start + 1.25) == 0.75)
    }

    @Test func anExcludedSpanCountsInNoLap() {
        var clock = TrainingClock(startingAt: start)
        #expect(clock.lap(at: start + 1) == 1)
        clock.exclude(until: start + 4)  // an evaluation from 1 s to 4 s
        #expect(clock.lap(at: start + 4.5) == 0.5)
    }

    @Test func aClockThatWentBackCountsNothing() {
        var clock = TrainingClock(startingAt: start)
        #expect(clock.lap(at: start - 2) == 0)
        #expect(clock.lap(at: start - 1) == 1)
    }
}
