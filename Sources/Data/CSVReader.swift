import Glibc

/// Reads delimited text: one sample a line (or a record of several, where a quoted field holds line breaks), one
/// column holding the label, the rest features.
///
/// The label is a number (a class index, or a regression target), or the name of a class: a file whose first
/// label is not a number names every class, and each name becomes its index in the sorted list of names.
public enum CSVReader {
    /// Reads `path`, the label in `labelColumn`, columns separated by `delimiter`. A column given by name is looked
    /// up in the first line, which is then the header whatever `hasHeader` says. With `only`, keeps just those
    /// samples, leaving the others' numbers unread (and unchecked). A sample is a line, or several where a quoted
    /// field holds line breaks (RFC 4180), and is known by its first line. The file is read `blockBytes` at a time.
    public static func read(path: String, hasHeader: Bool = false, labelColumn: CSVColumn = .position(0),
                            delimiter: CSVDelimiter = .comma, only selection: RowSelection? = nil,
                            blockBytes: Int = 8 << 20) throws(DataError) -> Dataset {
        // Runs of blanks delimit as padding does, between fields: their separator is a byte no line holds.
        let blanks = delimiter == .blanks, separator = delimiter.byte ?? 0
        var hasHeader = hasHeader
        var headerNames: [String]?
        if case .name = labelColumn { hasHeader = true }
        var features: [Float] = [], targets: [Float] = [], lines: [Int] = []
        var columns = -1, label = 0
        var classes = ClassNames()
        var samples = RowSelection.Cursor(selection)
        var linesBefore = 0
        let blocks = try LineBlocks(path, blockBytes: blockBytes)
        /// Where in the last block a record began that goes on past its last line.
        var unfinishedFrom: Int?
        // Each block holds whole lines and a 0 byte after them; its lines go on from the blocks before it.
        while let block = try blocks.next() {
            let parsed = block.withUnsafeBufferPointer { buffer -> DataError? in
                let base = buffer.baseAddress!, end = base + buffer.count - 1
                // Local while a block is read, which the optimiser keeps in registers: not so captured ones.
                var p = base, lineNumber = linesBefore
                defer { linesBefore = lineNumber }
                var row: [Float] = []
                while p < end {
                    // A record is a line, or several where a quoted field holds line breaks; it is numbered by its first,
                    // and `lineEnd` is the end of its last.
                    lineNumber += 1
                    let recordLine = lineNumber
                    var breaksInside = 0
                    let lineEnd: UnsafePointer<UInt8>
                    switch recordEnd(from: p, to: end, separator: delimiter.byte, breaksInside: &breaksInside) {
                    case .at(let recordEnd): lineEnd = recordEnd
                    case .goesOn where !blocks.isFinished && end - p <= maxQuotedRecordBytes:
                        unfinishedFrom = p - base
                        lineNumber = recordLine - 1
                        return nil
                    case .goesOn(let column):
                        let how = blocks.isFinished ? "no later quote closes" : "is still open \(maxQuotedRecordBytes >> 20) MiB on"
                        return DataError(source: path, line: recordLine, message: "column \(column) opens a double quote that \(how)", hint: quotingHint)
                    case .closedBefore(let column, let text, let breaks):
                        return DataError(source: path, line: recordLine, message: "the quoted field in column \(column) runs on to line "
                                         + "\(recordLine + breaks), where its closing quote is followed by '\(text)'", hint: quotingHint)
                    }
                    lineNumber += breaksInside
                    defer { p = lineEnd + 1 }
                    if hasHeader && recordLine == 1 {
                        if case .name = labelColumn { headerNames = fieldNames(p, lineEnd, delimiter: delimiter) }
                        continue
                    }
                    if isBlank(p, lineEnd) { continue }
                    if columns < 0 {
                        switch layout(ofFirstSample: p, lineEnd, line: recordLine, labelColumn: labelColumn, header: headerNames,
                                      delimiter: delimiter, path: path) {
                        case .success(let layout): (columns, label) = layout
                        case .failure(let error): return error
                        }
                        if let selection {
                            // The rows to keep are known: no growing, and no copies held at once while growing.
                            features.reserveCapacity(selection.rows.count * (columns - 1))
                            targets.reserveCapacity(selection.rows.count)
                            lines.reserveCapacity(selection.rows.count)
                        }
                    }
                    guard samples.advance() else { continue }
                    if let problem = readSample(p, lineEnd, line: recordLine, into: &row, label: label, classes: &classes, separator: separator, blanks: blanks,
                                                mayBeHeader: !hasHeader && samples.seen == 1) {
                        return DataError(source: path, line: recordLine, message: problem.message, hint: problem.hint)
                    }
                    guard row.count == columns else {
                        return DataError(source: path, line: recordLine,
                                         message: "\(row.count) columns, expected \(columns) (label + \(columns - 1) features) as on the first line",
                                         hint: breaksInside == 0 ? nil : "a quoted field here holds a line break, so this sample runs on to line "
                                             + "\(lineNumber): is a closing quote missing?")
                    }
                    targets.append(row[label])
                    for (j, v) in row.enumerated() where j != label { features.append(v) }
                    lines.append(recordLine)
                }
                return nil
            }
            if let parsed { throw parsed }
            if let start = unfinishedFrom {
                blocks.giveBack(block[start ..< block.count - 1])
                unfinishedFrom = nil
            }
        }
        try selection?.checkFileRows(samples.seen, path: path)
        guard !targets.isEmpty else { throw DataError(source: path, message: "no samples found", hint: "the file is empty or holds only a header") }
        var data = Dataset(features: features, targets: targets, featureCount: columns - 1, source: path, sourceLines: lines)
        if classes.named { data.nameClasses(inOrderOfAppearance: classes.inOrderOfAppearance) }
        return data
    }

    /// How many columns the file's first sample line, from `start` to `end` on `line`, has (every line must have as
    /// many), and which of them is the label, given by `labelColumn` and found among the `header` names.
    static func layout(ofFirstSample start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, line: Int, labelColumn: CSVColumn,
                       header: [String]?, delimiter: CSVDelimiter, path: String) -> Result<(columns: Int, label: Int), DataError> {
        let columns = fieldNames(start, end, delimiter: delimiter).count
        guard columns >= 2 else {
            let text = String(decoding: UnsafeBufferPointer(start: start, count: end - start), as: UTF8.self)
            return .failure(DataError(source: path, line: line, message: "found \(columns) column; expected a label and at least one feature",
                                      hint: otherDelimiterHint(in: text)
                                          ?? "are its columns separated by something other than \(delimiter.description)? data.delimiter names it"))
        }
        switch labelPosition(labelColumn, among: header ?? [], columns: columns) {
        case .success(let label): return .success((columns, label))
        case .failure(let problem):
            return .failure(DataError(source: path, line: problem.onHeader ? 1 : line, message: problem.message, hint: problem.hint))
        }
    }

    /// What is wrong with a sample line, and what to do.
    struct SampleProblem {
        var message: String
        var hint: String?
    }

    /// Reads the fields of the sample from `start` to `end`, on `line`, into `row` (emptied first): numbers, and at `label` a
    /// number or a class name, which `classes` makes an index. Fields end at `separator`, or at runs of blanks where
    /// `blanks` (`separator` is then a byte no line holds); spaces and tabs around a field are padding. Says why
    /// a field cannot be read; `mayBeHeader` (the file's first line, with no header set) adds a hint to set one.
    static func readSample(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, line: Int, into row: inout [Float], label: Int,
                           classes: inout ClassNames, separator: UInt8, blanks: Bool, mayBeHeader: Bool) -> SampleProblem? {
        row.removeAll(keepingCapacity: true)
        var q = start
        while true {
            while q < end && isPadding(q.pointee, separator: separator) { q += 1 }
            if q == end || q.pointee == separator || q.pointee == 13 {
                return SampleProblem(message: "column \(row.count + 1) is empty", hint: "every column needs a number; fill or drop missing values first")
            }
            // A number may stand in double quotes, as some programs write every field.
            let quoted = q.pointee == 34, numberStart = quoted ? q + 1 : q
            var next: UnsafeMutablePointer<CChar>? = nil
            var value = strtof(UnsafeRawPointer(numberStart).assumingMemoryBound(to: CChar.self), &next)
            let digitsEnd = UnsafeRawPointer(next!).assumingMemoryBound(to: UInt8.self)
            let closed = !quoted || (digitsEnd < end && digitsEnd.pointee == 34)
            let numberEnd = quoted && closed ? digitsEnd + 1 : digitsEnd
            var after = numberEnd
            while after < end && (isPadding(after.pointee, separator: separator) || after.pointee == 13) { after += 1 }
            let delimited = after == end || (blanks ? after > numberEnd : after.pointee == separator)
            let isNumber = digitsEnd != numberStart && closed && delimited && value.isFinite
            if !isNumber || row.count == label && classes.named {
                let fieldEnd = Self.fieldEnd(from: q, to: end, separator: blanks ? nil : separator)
                after = fieldEnd
                while after < end && (isPadding(after.pointee, separator: separator) || after.pointee == 13) { after += 1 }
                var text = String(decoding: UnsafeBufferPointer(start: q, count: fieldEnd - q), as: UTF8.self)
                while text.last?.isWhitespace == true { text.removeLast() }
                guard row.count == label else {
                    return SampleProblem(message: "column \(row.count + 1) is '\(text)', not a finite number",
                                         hint: decimalCommaHint(in: text) ?? otherDelimiterHint(in: text)
                                             ?? (mayBeHeader ? "if the first line is a header, set data.header: true" : nil))
                }
                switch classes.index(of: text, isNumber: isNumber, line: line) {
                case .success(let index): value = Float(index)
                case .failure(let problem): return SampleProblem(message: problem.message, hint: problem.hint)
                }
            } else if row.count == label {
                classes.sawNumber(line: line)
            }
            row.append(value)
            if after == end { return nil }
            q = blanks ? after : after + 1
        }
    }

    /// For text that holds another usual delimiter than the one given (most likely a line of columns separated by
    /// it): which to set.
    static func otherDelimiterHint(in text: String) -> String? {
        [",", ";", "\t", "|"].first { text.contains($0) }.map {
            "are the columns separated by \($0 == "\t" ? "tabs" : "'\($0)'")? set data.delimiter: \($0 == "\t" ? "tab" : "'\($0)'")"
        }
    }

    /// For a number written with a decimal comma (`1,5`, read in a file whose columns another character
    /// separates): that it is not read so.
    static func decimalCommaHint(in text: String) -> String? {
        let parts = unquoted(Substring(text)).split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty }), Float(parts[0]) != nil,
              parts[1].allSatisfy(\.isASCII), UInt(parts[1]) != nil else { return nil }
        return "numbers are read with a decimal point, not a comma: write \(parts.joined(separator: ".")) "
            + "(a spreadsheet writes points when saved in an English locale)"
    }
}
