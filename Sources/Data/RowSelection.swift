/// Which samples of a file to read, by their index among its samples (0-based, in file order), and how many samples
/// the file must hold: a worker reads only its shard's rows of a file whose size its server told it.
public struct RowSelection: Sendable, Equatable {
    /// The samples to keep, ascending.
    public let rows: [Int]
    /// The samples the whole file holds.
    public let fileRows: Int

    public init(rows: [Int], fileRows: Int) {
        precondition(zip(rows, rows.dropFirst()).allSatisfy { $0 < $1 }, "selected rows must ascend")
        precondition(rows.allSatisfy { $0 >= 0 && $0 < fileRows }, "selected rows must lie in the file's \(fileRows)")
        self.rows = rows
        self.fileRows = fileRows
    }

    /// Refuses a file of `found` samples where `fileRows` were expected: the file differs from the one the rows
    /// were chosen in.
    public func checkFileRows(_ found: Int, path: String) throws(DataError) {
        guard found != fileRows else { return }
        throw DataError(source: path, message: "holds \(found) samples, where the server's copy of it holds \(fileRows)",
                        hint: "every host of a job needs the very same data files")
    }

    /// Walks a file's samples in order, telling for each whether it is selected.
    struct Cursor {
        private let rows: [Int]
        /// No selection: every sample is kept.
        private let all: Bool
        private var next = 0
        /// Samples seen so far.
        private(set) var seen = 0

        init(_ selection: RowSelection?) {
            rows = selection?.rows ?? []
            all = selection == nil
        }

        /// Counts one more sample and tells whether it is selected.
        mutating func advance() -> Bool {
            defer { seen += 1 }
            guard !all else { return true }
            guard next < rows.count, rows[next] == seen else { return false }
            next += 1
            return true
        }
    }
}
