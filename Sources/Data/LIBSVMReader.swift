/// Reads the LIBSVM / SVMlight sparse text format (`label index:value ...`, 1-based ascending indices)
/// into a dense matrix.
public enum LIBSVMReader {
    /// Reads `path`. `featureCount` fixes the width (a test file may omit the highest feature everywhere);
    /// without it the width is the largest index found. With `only`, keeps just those samples, leaving the others'
    /// numbers unread (and unchecked).
    public static func read(path: String, featureCount: Int? = nil, only selection: RowSelection? = nil) throws(DataError) -> Dataset {
        let bytes = try readFile(path)
        let text = String(decoding: bytes, as: UTF8.self)
        var rows: [(label: Float, entries: [(Int, Float)], line: Int)] = []
        var widest = 0
        var samples = RowSelection.Cursor(selection)
        for (i, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = i + 1
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let tokens = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = tokens.first, samples.advance() else { continue }
            guard let label = Float(first), label.isFinite else {
                throw DataError(source: path, line: lineNumber, message: "label '\(first)' is not a number",
                                hint: "each line starts with a numeric label; multi-label lines are not supported")
            }
            var entries: [(Int, Float)] = []
            var previous = 0
            for token in tokens.dropFirst() {
                if token.hasPrefix("qid:") { continue }
                let parts = token.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let index = Int(parts[0]), let value = Float(parts[1]), value.isFinite else {
                    throw DataError(source: path, line: lineNumber, message: "token '\(token)' is not index:value",
                                    hint: "features are written as 1-based index, colon, number, e.g. 3:0.5")
                }
                guard index >= 1 else {
                    throw DataError(source: path, line: lineNumber, message: "feature index \(index) in '\(token)' is below 1",
                                    hint: "LIBSVM indices start at 1")
                }
                guard index > previous else {
                    throw DataError(source: path, line: lineNumber, message: "feature index \(index) follows \(previous); indices must ascend")
                }
                if let featureCount, index > featureCount {
                    throw DataError(source: path, line: lineNumber, message: "feature index \(index) exceeds the \(featureCount) features configured",
                                    hint: "raise data.features or check the file")
                }
                previous = index
                entries.append((index, value))
            }
            widest = max(widest, previous)
            rows.append((label, entries, lineNumber))
        }
        try selection?.checkFileRows(samples.seen, path: path)
        guard !rows.isEmpty else { throw DataError(source: path, message: "no samples found") }
        let width = featureCount ?? widest
        guard width > 0 else { throw DataError(source: path, message: "no features found", hint: "set data.features") }
        var features = [Float](repeating: 0, count: rows.count * width)
        for (r, row) in rows.enumerated() {
            for (index, value) in row.entries { features[r * width + index - 1] = value }
        }
        return Dataset(features: features, targets: rows.map(\.label), featureCount: width, source: path, sourceLines: rows.map(\.line))
    }
}
