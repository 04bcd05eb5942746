import Foundation
import Testing
@testable import Roles

/// `pstrain status`'s text, from a server's `stats` answer.
@Suite struct StatusReportTests {
    let job: [String: Any] = ["model": "mlp 784-256-128-10", "mode": "sync", "version": 120, "total_steps": 900, "epoch": 1, "epochs": 3,
                              "uptime_seconds": 10.0, "busy_seconds": 2.5, "rejected_messages": 0, "max_staleness": 0]

    @Test func keepsItsColumnsWhereTheyWereForShortValues() {
        var state = job
        state["workers"] = [["rank": 0, "state": "live", "steps": 60, "last_seen_seconds": 0.31, "shared_memory": true],
                            ["rank": 1, "state": "unregistered"]]
        #expect(StatusReport.text(state).split(separator: "\n").map(String.init) == [
            "mlp 784-256-128-10  sync  step 120/900  epoch 1/3  up 10.0 s, busy 25 %",
            "rejected messages: 0  max staleness: 0",
            "rank  state         steps  last seen    shared memory",
            "0     live          60     0.3 s ago    yes",
            "1     unregistered  -      -            -",
        ])
    }

    /// A value longer than its column's usual width (a step of six digits, a long endpoint is last and free) widens
    /// the column for every row, header included, instead of being cut or pushing its row out of line.
    @Test func widensAColumnForALongValue() throws {
        var state = job
        state["workers"] = [["rank": 0, "state": "live", "steps": 1_234_567, "last_seen_seconds": 12345.5],
                            ["rank": 1, "state": "live", "steps": 9, "last_seen_seconds": 0.5]]
        state["shards"] = [["shard": 1, "state": "probing", "step": 7_654_321, "endpoint": "tcp://10.0.0.2:5555"]]
        let lines = StatusReport.text(state).split(separator: "\n").map(String.init)
        let workerTable = Array(lines[2 ... 4])
        #expect(workerTable == [
            "rank  state         steps    last seen      shared memory",
            "0     live          1234567  12345.5 s ago  -",
            "1     live          9        0.5 s ago      -",
        ])
        #expect(Array(lines[5...]) == [
            "shard  state    step     last answer  busy   endpoint",
            "1      probing  7654321  never        -      tcp://10.0.0.2:5555",
        ])
        #expect(lines.allSatisfy { !$0.hasSuffix(" ") })
    }

    @Test func aTableFitsEachColumnToItsWidestCellAndEndsNoLineInSpaces() {
        let table = TextTable(["a": 1, "bb": 0, "c": 0], rows: [["long", "x", "last cell"], ["", "yy", ""]])
        #expect(table.lines == ["a     bb  c", "long  x   last cell", "      yy"])
    }
}
