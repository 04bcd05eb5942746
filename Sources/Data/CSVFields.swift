import Glibc

/// How a CSV file's bytes split into records and fields: delimiters, padding, quotes (RFC 4180).
extension CSVReader {
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
        if p < end && p.pointee == 34 { p = closingQuote(from: p + 1, to: end).map { $0 + 1 } ?? end }
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
    /// A line without a double quote, as a file of numbers holds, is a record: found by two scans of `memchr`. On
    /// a line with quotes, a byte loop (fields are short: a call of `memchr` for each cost more) finds each field's end.
    static func recordEnd(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>, separator: UInt8?,
                          breaksInside: inout Int) -> RecordEnd {
        var lineEnd = firstNewline(from: start, to: end)
        guard memchr(start, 34, lineEnd - start) != nil else { return .at(lineEnd) }
        let blanks = separator == nil, separatorByte = separator ?? 0
        var q = start, column = 0
        while true {
            column += 1
            while q < lineEnd && isPadding(q.pointee, separator: separatorByte) { q += 1 }
            if q < lineEnd && q.pointee == 34 {
                // The closing quote may be on this line or a later one.
                guard let close = closingQuote(from: q + 1, to: end) else { return .goesOn(column: column) }
                q = close + 1
                if close > lineEnd {
                    var breaks = 0, newline = lineEnd
                    while newline < close {
                        breaks += 1
                        newline = firstNewline(from: newline + 1, to: close)
                    }
                    breaksInside += breaks
                    lineEnd = firstNewline(from: q, to: end)
                    var after = q
                    while after < lineEnd && (isPadding(after.pointee, separator: separatorByte) || after.pointee == 13) { after += 1 }
                    if after < lineEnd && !(blanks ? isBlank(after.pointee) : after.pointee == separatorByte) {
                        let rest = UnsafeBufferPointer(start: after, count: lineEnd - after)
                        return .closedBefore(column: column, text: String(decoding: rest.prefix(20), as: UTF8.self), breaks: breaks)
                    }
                }
            }
            // The rest of the field, up to a delimiter or the end of the line.
            if blanks {
                while q < lineEnd && !isBlank(q.pointee) { q += 1 }
            } else {
                while q < lineEnd && q.pointee != separatorByte { q += 1 }
            }
            if q == lineEnd { return .at(lineEnd) }
            q += 1
        }
    }

    /// The quote that closes a quoted field whose text starts at `start`: the next lone one (a doubled quote is a
    /// quote character, as RFC 4180 writes it), or nil before `end`.
    static func closingQuote(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        var p = start
        while true {
            while p < end && p.pointee != 34 { p += 1 }
            guard p < end else { return nil }
            guard p + 1 < end && (p + 1).pointee == 34 else { return p }
            p += 2
        }
    }

    /// The first newline from `start` on, or `end` where there is none.
    static func firstNewline(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8> {
        memchr(start, 10, end - start).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) } ?? end
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

    /// Whether `byte` is padding around a field: a space or tab that is not the delimiter `separator` (0 where runs
    /// of blanks delimit: a byte no line holds).
    static func isPadding(_ byte: UInt8, separator: UInt8) -> Bool { (byte == 32 || byte == 9) && byte != separator }

    /// Whether `byte` is a space, a tab, or the carriage return of a Windows line ending.
    static func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 }

    /// Whether the bytes from `start` to `end` are all blank: a line with no fields.
    static func isBlank(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Bool {
        var p = start
        while p < end {
            if ![9, 13, 32].contains(p.pointee) { return false }
            p += 1
        }
        return true
    }
}
