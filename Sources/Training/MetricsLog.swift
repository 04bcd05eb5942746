import Foundation

/// The run's metric files: one CSV per table (`metrics.csv`, `evaluation.csv`), every row of every table
/// in `metrics.jsonl` tagged with its event, and every value as a TensorBoard scalar `<table>/<column>`. Each row is written through at once, so a crash loses nothing
/// already recorded. One handle per file: two handles on one file would overwrite each other's rows.
public final class MetricsLog {
    private let directory: URL
    private let jsonl: FileHandle
    private var tables: [String: (handle: FileHandle, columns: [String])] = [:]

    private let appending: Bool
    /// The TensorBoard event file of the run (`tensorboard --logdir` on the run, or on a sweep, shows it).
    public let events: EventFileWriter

    /// Creates the files, or with `appending` (a resumed run) continues the existing ones.
    public init(directory: URL, appending: Bool = false) throws {
        self.directory = directory
        self.appending = appending
        jsonl = try Self.open(directory.appendingPathComponent("metrics.jsonl"), appending: appending)
        events = try EventFileWriter(directory: directory, appending: appending)
    }

    deinit {
        try? jsonl.close()
        for table in tables.values { try? table.handle.close() }
    }

    static func open(_ url: URL, appending: Bool) throws -> FileHandle {
        if appending, let handle = try? FileHandle(forWritingTo: url) {
            handle.seekToEndOfFile()
            return handle
        }
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw RunDirectoryError(path: url.path, message: "cannot create the file")
        }
        return try FileHandle(forWritingTo: url)
    }

    /// Creates `name.csv` with `columns` as its header; rows recorded under event `name` go there.
    public func addTable(_ name: String, columns: [String]) throws {
        let url = directory.appendingPathComponent("\(name).csv")
        let continuing = appending && (FileManager.default.contents(atPath: url.path)?.isEmpty == false)
        let handle = try Self.open(url, appending: continuing)
        if !continuing { handle.write(Data((columns.joined(separator: ",") + "\n").utf8)) }
        tables[name] = (handle, columns)
    }

    /// Appends a row to table `table` and to `metrics.jsonl`; a nil value leaves the cell empty and the JSON field out.
    public func record(_ table: String, _ values: [String: Double?]) {
        guard let (handle, columns) = tables[table] else { preconditionFailure("no metrics table \(table)") }
        let cells = columns.map { column in values[column].flatMap { $0 }.map(format) ?? "" }
        handle.write(Data((cells.joined(separator: ",") + "\n").utf8))
        var fields = ["\"event\":\"\(table)\""]
        for column in columns {
            if let value = values[column].flatMap({ $0 }) { fields.append("\"\(column)\":\(format(value))") }
        }
        jsonl.write(Data(("{" + fields.joined(separator: ",") + "}\n").utf8))
        let step = Int(values["step"].flatMap { $0 } ?? 0)
        for column in columns where !["step", "epoch", "wall_seconds"].contains(column) {
            if let value = values[column].flatMap({ $0 }), value.isFinite { events.scalar("\(table)/\(column)", value, step: step) }
        }
    }

    func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return value.isFinite ? String(value) : "null"
    }
}
