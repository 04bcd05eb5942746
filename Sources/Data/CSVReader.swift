import Glibc

/// Reads delimited text: one sample a line, one column holding the label, the rest features.
public enum CSVReader {
    /// Reads `path`. `labelColumn` counts from 0; a negative value counts from the end (-1 is the last column).
    public static func read(path: String, hasHeader: Bool = false, labelColumn: Int = 0, delimiter: UInt8 = UInt8(ascii: ",")) throws(DataError) -> Dataset {
        var bytes = try readFile(path)
        bytes.append(0) // strtof needs a terminator after the last field
        var features: [Float] = [], targets: [Float] = [], lines: [Int] = []
        var columns = -1, label = 0
        let parsed: DataError? = bytes.withUnsafeBufferPointer { buffer -> DataError? in
            let base = buffer.baseAddress!, end = base + buffer.count - 1
            var p = base, lineNumber = 0
            var row: [Float] = []
            while p < end {
                lineNumber += 1
                var lineEnd = p
                while lineEnd < end && lineEnd.pointee != 10 { lineEnd += 1 }
                defer { p = lineEnd + 1 }
                if hasHeader && lineNumber == 1 { continue }
                if isBlank(p, lineEnd) { continue }
                row.removeAll(keepingCapacity: true)
                var q = p
                while true {
                    while q < lineEnd && (q.pointee == 32 || q.pointee == 9) { q += 1 }
                    if q == lineEnd || q.pointee == delimiter || q.pointee == 13 {
                        return DataError(source: path, line: lineNumber, message: "column \(row.count + 1) is empty",
                                         hint: "every column needs a number; fill or drop missing values first")
                    }
                    var next: UnsafeMutablePointer<CChar>? = nil
                    let value = strtof(UnsafeRawPointer(q).assumingMemoryBound(to: CChar.self), &next)
                    var after = UnsafeRawPointer(next!).assumingMemoryBound(to: UInt8.self)
                    while after < lineEnd && (after.pointee == 32 || after.pointee == 9 || after.pointee == 13) { after += 1 }
                    if after == q || (after < lineEnd && after.pointee != delimiter) || !value.isFinite {
                        var fieldEnd = q
                        while fieldEnd < lineEnd && fieldEnd.pointee != delimiter { fieldEnd += 1 }
                        let text = String(decoding: UnsafeBufferPointer(start: q, count: fieldEnd - q), as: UTF8.self)
                        // Only the first sample line can be a header the config did not mention.
                        return DataError(source: path, line: lineNumber, message: "column \(row.count + 1) is '\(text)', not a finite number",
                                         hint: hasHeader || columns >= 0 ? nil : "if the first line is a header, set data.header: true")
                    }
                    row.append(value)
                    if after == lineEnd { break }
                    q = after + 1
                }
                if columns < 0 {
                    columns = row.count
                    guard columns >= 2 else {
                        return DataError(source: path, line: lineNumber, message: "found \(columns) column; expected a label and at least one feature",
                                         hint: delimiter == UInt8(ascii: ",") ? "is the file delimited by something other than commas?" : nil)
                    }
                    label = labelColumn < 0 ? columns + labelColumn : labelColumn
                    guard label >= 0 && label < columns else {
                        return DataError(source: path, line: lineNumber, message: "label column \(labelColumn) does not exist in \(columns) columns",
                                         hint: "data.label_column counts from 0; -1 is the last column")
                    }
                } else if row.count != columns {
                    return DataError(source: path, line: lineNumber,
                                     message: "\(row.count) columns, expected \(columns) (label + \(columns - 1) features) as on the first line")
                }
                targets.append(row[label])
                for (j, v) in row.enumerated() where j != label { features.append(v) }
                lines.append(lineNumber)
            }
            return nil
        }
        if let parsed { throw parsed }
        guard !targets.isEmpty else { throw DataError(source: path, message: "no samples found", hint: "the file is empty or holds only a header") }
        return Dataset(features: features, targets: targets, featureCount: columns - 1, source: path, sourceLines: lines)
    }

    static func isBlank(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Bool {
        var p = start
        while p < end {
            if ![9, 13, 32].contains(p.pointee) { return false }
            p += 1
        }
        return true
    }
}
