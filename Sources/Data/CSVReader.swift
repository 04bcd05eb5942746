import Glibc

/// Reads delimited text: one sample a line, one column holding the label, the rest features.
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
        /// A space or tab that does not itself delimit.
        func isPadding(_ byte: UInt8) -> Bool { (byte == 32 || byte == 9) && byte != separator }
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
                        // The first sample line fixes the columns, and so where the label is.
                        columns = fieldNames(p, lineEnd, delimiter: delimiter).count
                        guard columns >= 2 else {
                            let line = String(decoding: UnsafeBufferPointer(start: p, count: lineEnd - p), as: UTF8.self)
                            return DataError(source: path, line: recordLine, message: "found \(columns) column; expected a label and at least one feature",
                                             hint: otherDelimiterHint(in: line)
                                                 ?? "are its columns separated by something other than \(delimiter.description)? data.delimiter names it")
                        }
                        switch labelPosition(labelColumn, among: headerNames ?? [], columns: columns) {
                        case .success(let position): label = position
                        case .failure(let problem):
                            return DataError(source: path, line: problem.onHeader ? 1 : recordLine, message: problem.message, hint: problem.hint)
                        }
                        if let selection {
                            // The rows to keep are known: no growing, and no copies held at once while growing.
                            features.reserveCapacity(selection.rows.count * (columns - 1))
                            targets.reserveCapacity(selection.rows.count)
                            lines.reserveCapacity(selection.rows.count)
                        }
                    }
                    guard samples.advance() else { continue }
                    row.removeAll(keepingCapacity: true)
                    var q = p
                    while true {
                        while q < lineEnd && isPadding(q.pointee) { q += 1 }
                        if q == lineEnd || q.pointee == separator || q.pointee == 13 {
                            return DataError(source: path, line: recordLine, message: "column \(row.count + 1) is empty",
                                             hint: "every column needs a number; fill or drop missing values first")
                        }
                        // A number may stand in double quotes, as some programs write every field.
                        let quoted = q.pointee == 34, numberStart = quoted ? q + 1 : q
                        var next: UnsafeMutablePointer<CChar>? = nil
                        var value = strtof(UnsafeRawPointer(numberStart).assumingMemoryBound(to: CChar.self), &next)
                        let digitsEnd = UnsafeRawPointer(next!).assumingMemoryBound(to: UInt8.self)
                        let closed = !quoted || (digitsEnd < lineEnd && digitsEnd.pointee == 34)
                        let numberEnd = quoted && closed ? digitsEnd + 1 : digitsEnd
                        var after = numberEnd
                        while after < lineEnd && (isPadding(after.pointee) || after.pointee == 13) { after += 1 }
                        let delimited = after == lineEnd || (blanks ? after > numberEnd : after.pointee == separator)
                        let isNumber = digitsEnd != numberStart && closed && delimited && value.isFinite
                        if !isNumber || row.count == label && classes.named {
                            let fieldEnd = Self.fieldEnd(from: q, to: lineEnd, separator: delimiter.byte)
                            after = fieldEnd
                            while after < lineEnd && (isPadding(after.pointee) || after.pointee == 13) { after += 1 }
                            var text = String(decoding: UnsafeBufferPointer(start: q, count: fieldEnd - q), as: UTF8.self)
                            while text.last?.isWhitespace == true { text.removeLast() }
                            if row.count == label {
                                switch classes.index(of: text, isNumber: isNumber, line: recordLine) {
                                case .success(let index): value = Float(index)
                                case .failure(let problem): return DataError(source: path, line: recordLine, message: problem.message, hint: problem.hint)
                                }
                            } else {
                                // Only the first sample line can be a header the config did not mention.
                                let header = hasHeader || samples.seen > 1 ? nil : "if the first line is a header, set data.header: true"
                                return DataError(source: path, line: recordLine, message: "column \(row.count + 1) is '\(text)', not a finite number",
                                                 hint: decimalCommaHint(in: text) ?? otherDelimiterHint(in: text) ?? header)
                            }
                        } else if row.count == label {
                            classes.sawNumber(line: recordLine)
                        }
                        row.append(value)
                        if after == lineEnd { break }
                        q = blanks ? after : after + 1
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

    /// A line's fields, each trimmed of blanks and of the double quotes around a quoted one. A byte order mark
    /// (spreadsheets write one before the first name) goes too. A quoted field may hold the delimiter.
    static func fieldNames(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, delimiter: CSVDelimiter) -> [String] {
        let separator = delimiter.byte
        var fields: [String] = [], q = start
        while true {
            if separator == nil {
                while q < end && isBlank(q.pointee) { q += 1 }
                if q == end { break }
            }
            let fieldEnd = fieldEnd(from: q, to: end, separator: separator)
            var name = Substring(String(decoding: UnsafeBufferPointer(start: q, count: fieldEnd - q), as: UTF8.self))
                .drop { $0.isWhitespace || $0 == "\u{FEFF}" }
            while name.last?.isWhitespace == true { name = name.dropLast() }
            fields.append(unquoted(name))
            if fieldEnd == end { break }
            q = separator == nil ? fieldEnd : fieldEnd + 1
        }
        return fields
    }

    /// Where the field starting at `start` (after any padding) ends: at the next `separator`, or blank when runs of
    /// blanks delimit (`separator` nil), or at `end`. A field that starts with a double quote may hold the
    /// delimiter up to its closing quote (a doubled quote inside is a quote character, as RFC 4180 writes it);
    /// elsewhere a quote is a character like any other.
    static func fieldEnd(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>, separator: UInt8?) -> UnsafePointer<UInt8> {
        var p = start
        if p < end && p.pointee == 34 {
            p += 1
            while p < end {
                if p.pointee == 34 {
                    if p + 1 < end && (p + 1).pointee == 34 { p += 2; continue }
                    p += 1
                    break
                }
                p += 1
            }
        }
        while p < end && !(separator.map { p.pointee == $0 } ?? isBlank(p.pointee)) { p += 1 }
        return p
    }

    /// How far a record may run on, a quoted field open, before the reader takes the quote for a mistake rather
    /// than read on: a record is one sample, and a name (the only text a sample holds) is never so long.
    static let maxQuotedRecordBytes = 1 << 20

    static let quotingHint = "a field in double quotes ends at the next lone double quote, and may hold delimiters and line breaks; "
        + "a quote inside one is written twice (\"\")"

    /// Where a record ends, as `recordEnd(from:to:separator:breaksInside:)` finds it.
    enum RecordEnd {
        /// At this newline (or the end of the bytes).
        case at(UnsafePointer<UInt8>)
        /// The quoted field in `column` (counting from 1) is still open at the end of the bytes given.
        case goesOn(column: Int)
        /// The quoted field in `column` holds `breaks` line breaks and is closed by a quote followed by `text`, not
        /// by a delimiter or the end of the line: most likely a quote opened by mistake, closed by another field's.
        case closedBefore(column: Int, text: String, breaks: Int)
    }

    /// Where the record starting at `start` ends: at the first newline outside a quoted field, or at `end`.
    /// `breaksInside` counts the line breaks inside its quoted fields (RFC 4180 lets a quoted field hold them).
    /// A line without a double quote, as a file of numbers holds, is a record: found by two scans of `memchr`.
    static func recordEnd(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>, separator: UInt8?,
                          breaksInside: inout Int) -> RecordEnd {
        let lineEnd = memchr(start, 10, end - start).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) } ?? end
        guard memchr(start, 34, lineEnd - start) != nil else { return .at(lineEnd) }
        // Padding is what `read` skips before a field: blanks other than the delimiter, or any blank between fields
        // that runs of blanks delimit.
        func isPadding(_ byte: UInt8) -> Bool { separator.map { (byte == 32 || byte == 9) && byte != $0 } ?? isBlank(byte) }
        func delimits(_ byte: UInt8) -> Bool { separator.map { byte == $0 } ?? isBlank(byte) }
        var q = start, column = 0
        while true {
            column += 1
            while q < end && isPadding(q.pointee) { q += 1 }
            if q < end && q.pointee == 34 {
                var breaks = 0
                q += 1
                while true {
                    guard q < end else { return .goesOn(column: column) }
                    if q.pointee == 34 {
                        if q + 1 < end && (q + 1).pointee == 34 { q += 2; continue }
                        q += 1
                        break
                    }
                    if q.pointee == 10 { breaks += 1 }
                    q += 1
                }
                breaksInside += breaks
                if breaks > 0 {
                    var after = q
                    while after < end && (isPadding(after.pointee) || after.pointee == 13) { after += 1 }
                    if after < end && after.pointee != 10 && !delimits(after.pointee) {
                        let rest = UnsafeBufferPointer(start: after, count: (memchr(after, 10, end - after).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) } ?? end) - after)
                        return .closedBefore(column: column, text: String(decoding: rest.prefix(20), as: UTF8.self), breaks: breaks)
                    }
                }
            }
            while q < end && q.pointee != 10 && !delimits(q.pointee) { q += 1 }
            if q == end || q.pointee == 10 { return .at(q) }
            q += 1
        }
    }

    /// `text` without the double quotes around it, if it has them, and with each doubled quote inside made one.
    static func unquoted(_ text: Substring) -> String {
        guard text.count >= 2 && text.first == "\"" && text.last == "\"" else { return String(text) }
        var result = "", afterQuote = false
        for character in text.dropFirst().dropLast() {
            // The second quote of a pair is dropped.
            if character == "\"" && afterQuote {
                afterQuote = false
                continue
            }
            afterQuote = character == "\""
            result.append(character)
        }
        return result
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 }

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
            let listed = header.count <= 12 ? header.joined(separator: ", ") : header.prefix(12).joined(separator: ", ") + ", ... (\(header.count) columns)"
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

    static func isBlank(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Bool {
        var p = start
        while p < end {
            if ![9, 13, 32].contains(p.pointee) { return false }
            p += 1
        }
        return true
    }
}
