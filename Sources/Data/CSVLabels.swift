/// The label column of a CSV file: where it stands, and the class names it holds.
extension CSVReader {
    /// The label column's class names as a file is read: whether the file names its classes (decided by its first
    /// label), and each distinct name's index in order of first appearance.
    struct ClassNames {
        private var indices: [String: Int] = [:]
        private(set) var inOrderOfAppearance: [String] = []
        /// Whether the first label read was a name, and on which line.
        private var first: (named: Bool, line: Int)?
        var named: Bool { first?.named == true }

        /// Notes a label that is a number.
        mutating func sawNumber(line: Int) {
            if first == nil { first = (false, line) }
        }

        /// The index of the label `text` read on `line`; a number (`isNumber`) in a file that names its classes, or
        /// a name in one that numbers them, is refused.
        mutating func index(of text: String, isNumber: Bool, line: Int) -> Result<Int, LabelProblem> {
            if first == nil { first = (!isNumber, line) }
            let mixed = "a label column holds numbers or class names, not both"
            guard named else {
                return .failure(LabelProblem(message: "the label is '\(text)', a name, while line \(first!.line)'s is a number", hint: mixed))
            }
            guard !isNumber else {
                return .failure(LabelProblem(message: "the label is \(text), a number, while line \(first!.line)'s is a class name", hint: mixed))
            }
            let name = unquoted(Substring(text))
            guard !name.isEmpty else { return .failure(LabelProblem(message: "the label is empty", hint: "every row needs its class")) }
            if let index = indices[name] { return .success(index) }
            indices[name] = inOrderOfAppearance.count
            inOrderOfAppearance.append(name)
            return .success(inOrderOfAppearance.count - 1)
        }
    }

    /// What is wrong with the label column: the message, a hint, and whether it concerns the header line.
    struct LabelProblem: Error {
        var message: String
        var hint: String?
        var onHeader = true
    }

    /// The position of `column` in lines of `columns` columns, whose names (with a name given) are `header`.
    static func labelPosition(_ column: CSVColumn, among header: [String], columns: Int) -> Result<Int, LabelProblem> {
        let name: String
        switch column {
        case .position(let position):
            let label = position < 0 ? columns + position : position
            guard label >= 0 && label < columns else {
                return .failure(LabelProblem(message: "label column \(position) does not exist in \(columns) columns",
                                             hint: "data.label_column counts from 0; -1 is the last column", onHeader: false))
            }
            return .success(label)
        case .name(let named): name = named
        }
        let matches = header.indices.filter { header[$0] == name }
        guard matches.count == 1 else {
            if matches.count > 1 {
                return .failure(LabelProblem(message: "the header names \(matches.count) columns '\(name)' (columns \(matches.map { "\($0)" }.joined(separator: ", ")))",
                                             hint: "rename one, or give data.label_column as a position: columns count from 0"))
            }
            let listed = nameList(header, counting: "columns")
            let sameButCase = header.first { $0.lowercased() == name.lowercased() }
            return .failure(LabelProblem(message: "no column is named '\(name)' in the header: \(listed)",
                                         hint: sameButCase.map { "names are case-sensitive: did you mean '\($0)'?" }
                                             ?? "data.label_column takes a name from the first line, or a position counting from 0"))
        }
        guard header.count == columns else {
            return .failure(LabelProblem(message: "the header names \(header.count) columns and this line has \(columns)",
                                         hint: "the label column is found by its place in the header, so both need the same columns",
                                         onHeader: false))
        }
        return .success(matches[0])
    }
}
