import Foundation

/// A server's `stats` answer (the JSON `pstrain status --json` prints) as the few lines `pstrain status` prints:
/// the job's progress, a table of workers and, from shard 0 of several, a table of the other shards.
public enum StatusReport {
    public static func text(_ s: [String: Any]) -> String {
        var head = "\(s["model"] ?? "?")  \(s["mode"] ?? "?")  step \(s["version"] ?? "?")/\(s["total_steps"] ?? "?")"
            + "  epoch \(s["epoch"] ?? "?")/\(s["epochs"] ?? "?")"
        if let loss = number(s["loss"]) { head += String(format: "  loss %.4f", loss) }
        if let rate = number(s["samples_per_second"]) { head += String(format: "  %.0f samples/s", rate) }
        head += String(format: "  up %.1f s", number(s["uptime_seconds"]) ?? 0)
        if let busy = busyPercent(s["busy_seconds"], of: s["uptime_seconds"]) { head += ", busy " + busy }
        var lines = [head]
        if let step = s["checkpoint_step"], let age = number(s["checkpoint_age_seconds"]) {
            lines.append(String(format: "checkpoint: step \(step), %.1f s ago", age))
        }
        lines.append("rejected messages: \(s["rejected_messages"] ?? 0)  max staleness: \(s["max_staleness"] ?? 0)")
        let workers = s["workers"] as? [[String: Any]] ?? []
        lines += TextTable(["rank": 4, "state": 12, "steps": 5, "last seen": 11, "shared memory": 0], rows: workers.map { worker in
            [cell(worker["rank"]), cell(worker["state"]), cell(worker["steps"], absent: "-"), ago(worker["last_seen_seconds"]) ?? "-",
             (worker["shared_memory"] as? Bool).map { $0 ? "yes" : "no" } ?? "-"]
        }).lines
        let shards = s["shards"] as? [[String: Any]] ?? []
        if !shards.isEmpty {
            lines += TextTable(["shard": 5, "state": 7, "step": 5, "last answer": 11, "busy": 5, "endpoint": 0], rows: shards.map { other in
                [cell(other["shard"]), cell(other["state"]), cell(other["step"], absent: "-"), ago(other["last_answer_seconds"]) ?? "never",
                 busyPercent(other["busy_seconds"], of: other["uptime_seconds"]) ?? "-", cell(other["endpoint"])]
            }).lines
        }
        return lines.joined(separator: "\n")
    }

    static func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
    static func cell(_ value: Any?, absent: String = "?") -> String { value.map { "\($0)" } ?? absent }
    static func ago(_ seconds: Any?) -> String? { number(seconds).map { String(format: "%.1f s ago", $0) } }
    static func busyPercent(_ busy: Any?, of uptime: Any?) -> String? {
        guard let busy = number(busy), let uptime = number(uptime), uptime > 0 else { return nil }
        return String(format: "%.0f %%", 100 * busy / uptime)
    }
}

/// Rows of cells as aligned columns, two spaces apart. Each column is as wide as its widest cell or title, and at
/// least its given width, so that the table keeps its shape from one call to the next (`watch pstrain status`)
/// and a long cell widens its column rather than being cut or pushing its row out of line. No line ends in spaces.
struct TextTable {
    let lines: [String]

    /// `columns`: each title with its least width, in order.
    init(_ columns: KeyValuePairs<String, Int>, rows: [[String]]) {
        let titles = columns.map(\.key)
        let widths = columns.enumerated().map { index, column in
            rows.reduce(max(column.value, column.key.count)) { max($0, index < $1.count ? $1[index].count : 0) }
        }
        func line(_ cells: [String]) -> String {
            var text = cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        lines = [line(titles)] + rows.map(line)
    }
}
