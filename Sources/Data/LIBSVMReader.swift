import Glibc

/// Reads the LIBSVM / SVMlight sparse text format (`label index:value ...`, 1-based ascending indices)
/// into a dense matrix.
public enum LIBSVMReader {
    /// Reads `path`. `featureCount` fixes the width (a test file may omit the highest feature everywhere);
    /// without it the width is the largest index found. With `only`, keeps just those samples, leaving the others'
    /// numbers unread (and unchecked).
    public static func read(path: String, featureCount: Int? = nil, only selection: RowSelection? = nil) throws(DataError) -> Dataset {
        // The entries stay sparse, one flat list, until the width is known.
        var labels: [Float] = [], lines: [Int] = [], rowEnds: [Int] = [], indices: [Int] = [], values: [Float] = []
        var widest = 0, linesBefore = 0
        var samples = RowSelection.Cursor(selection)
        let blocks = try LineBlocks(path)
        // Each block holds whole lines and a 0 byte after them; its lines go on from the blocks before it.
        while let block = try blocks.next() {
            let failure = block.withUnsafeBufferPointer { buffer -> DataError? in
                let base = buffer.baseAddress!, end = base + buffer.count - 1
                var p = base, lineNumber = linesBefore
                defer { linesBefore = lineNumber }
                while p < end {
                    lineNumber += 1
                    var lineEnd = p
                    while lineEnd < end && lineEnd.pointee != 10 { lineEnd += 1 }
                    defer { p = lineEnd + 1 }
                    // A comment runs from '#' to the end of the line.
                    var contentEnd = p
                    while contentEnd < lineEnd && contentEnd.pointee != 35 { contentEnd += 1 }
                    var tokens = Tokens(from: p, to: contentEnd)
                    guard let first = tokens.next(), samples.advance() else { continue }
                    guard let label = number(first), label.isFinite else {
                        return DataError(source: path, line: lineNumber, message: "label '\(text(first))' is not a number",
                                         hint: "each line starts with a numeric label; multi-label lines are not supported")
                    }
                    var previous = 0
                    while let token = tokens.next() {
                        if token.count >= 4 && token.starts(with: "qid:".utf8) { continue }
                        guard let colon = token.firstIndex(of: 58), let index = integer(token[..<colon]),
                              let value = number(token[(colon + 1)...]), value.isFinite else {
                            return DataError(source: path, line: lineNumber, message: "token '\(text(token))' is not index:value",
                                             hint: "features are written as 1-based index, colon, number, e.g. 3:0.5")
                        }
                        guard index >= 1 else {
                            return DataError(source: path, line: lineNumber, message: "feature index \(index) in '\(text(token))' is below 1",
                                             hint: "LIBSVM indices start at 1")
                        }
                        guard index > previous else {
                            return DataError(source: path, line: lineNumber, message: "feature index \(index) follows \(previous); indices must ascend")
                        }
                        if let featureCount, index > featureCount {
                            return DataError(source: path, line: lineNumber, message: "feature index \(index) exceeds the \(featureCount) features configured",
                                             hint: "raise data.features or check the file")
                        }
                        previous = index
                        indices.append(index)
                        values.append(value)
                    }
                    widest = max(widest, previous)
                    labels.append(label)
                    lines.append(lineNumber)
                    rowEnds.append(indices.count)
                }
                return nil
            }
            if let failure { throw failure }
        }
        try selection?.checkFileRows(samples.seen, path: path)
        guard !labels.isEmpty else { throw DataError(source: path, message: "no samples found") }
        let width = featureCount ?? widest
        guard width > 0 else { throw DataError(source: path, message: "no features found", hint: "set data.features") }
        var features = [Float](repeating: 0, count: labels.count * width)
        var entry = 0
        for (row, rowEnd) in rowEnds.enumerated() {
            while entry < rowEnd {
                features[row * width + indices[entry] - 1] = values[entry]
                entry += 1
            }
        }
        return Dataset(features: features, targets: labels, featureCount: width, source: path, sourceLines: lines)
    }

    /// The blank-separated tokens between two places of a line.
    struct Tokens {
        private var p: UnsafePointer<UInt8>
        private let end: UnsafePointer<UInt8>

        init(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) {
            p = start
            self.end = end
        }

        mutating func next() -> UnsafeBufferPointer<UInt8>? {
            while p < end && isBlank(p.pointee) { p += 1 }
            guard p < end else { return nil }
            let start = p
            while p < end && !isBlank(p.pointee) { p += 1 }
            return UnsafeBufferPointer(start: start, count: p - start)
        }

        private func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 }
    }

    /// The number `field` spells, all of it; nil when it spells none, or more. A field ends where its line has a
    /// blank, a '#', a newline or the block's 0 byte, none of which a number can hold, so `strtof` stops there.
    static func number(_ field: UnsafeBufferPointer<UInt8>.SubSequence) -> Float? {
        // strtof would skip leading blanks, into the next field.
        guard let first = field.first, first > 32 else { return nil }
        let start = field.base.baseAddress! + field.startIndex
        var next: UnsafeMutablePointer<CChar>?
        let value = strtof(UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self), &next)
        return UnsafeRawPointer(next!) == UnsafeRawPointer(start + field.count) ? value : nil
    }

    static func number(_ field: UnsafeBufferPointer<UInt8>) -> Float? { number(field[...]) }

    /// The decimal integer `field` spells, with an optional sign; nil when it spells none, or one too long to be an
    /// index.
    static func integer(_ field: UnsafeBufferPointer<UInt8>.SubSequence) -> Int? {
        var digits = field[...], negative = false
        if let sign = digits.first, sign == 43 || sign == 45 {
            negative = sign == 45
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let magnitude = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        return negative ? -magnitude : magnitude
    }

    /// A token as text, for messages.
    static func text(_ token: UnsafeBufferPointer<UInt8>) -> String { String(decoding: token, as: UTF8.self) }
}
