import Foundation

/// What a data file's first bytes show it to be, so that a file read as another format can be named for what it is:
/// a LIBSVM file read as CSV otherwise fails with a hint about delimiters, an IDX file read as NumPy with one about
/// `numpy.save`.
public enum DataFileKind: String, Sendable {
    case csv, libsvm, idx, npy, gzip, zip

    /// Bytes read from the file's start: a few lines even of a wide CSV file.
    static let prefixSize = 64 * 1024

    /// The kind of the file at `path`, from its first `prefixSize` bytes; nil when it cannot be read or shows none
    /// clearly.
    public static func of(_ path: String) -> DataFileKind? {
        guard let file = try? openForReading(path) else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: prefixSize)
        let count = fread(&bytes, 1, bytes.count, file)
        return of(prefix: Array(bytes[0 ..< count]), whole: count < prefixSize)
    }

    /// The kind that a file starting with `b` is; `whole`: `b` is the whole file.
    static func of(prefix b: [UInt8], whole: Bool) -> DataFileKind? {
        if b.starts(with: [0x1F, 0x8B]) { return .gzip }
        if b.starts(with: Array("PK\u{3}\u{4}".utf8)) { return .zip }
        if b.starts(with: [0x93] + Array("NUMPY".utf8)) { return .npy }
        // IDX: two zero bytes, an element type, 1 to 4 dimensions.
        if b.count >= 4, b[0] == 0, b[1] == 0, [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E].contains(b[2]), (1 ... 4).contains(b[3]) { return .idx }
        guard !b.contains(0) else { return nil }
        var lines = b.split(separator: 10, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Whole lines only: the prefix may end inside one.
        if !whole { lines.removeLast() }
        let samples = lines.filter { !$0.isEmpty && !$0.hasPrefix("#") }.prefix(5)
        guard !samples.isEmpty else { return nil }
        if samples.allSatisfy(isLIBSVMLine) { return .libsvm }
        // The same number of delimiters on every line; a header line may differ from the samples, which decide.
        let rows = samples.count > 1 ? Array(samples.dropFirst()) : Array(samples)
        for delimiter in [",", ";", "\t"] {
            let counts = Set(rows.map { $0.components(separatedBy: delimiter).count - 1 })
            if counts.count == 1, counts.first! >= 1 { return .csv }
        }
        return nil
    }

    /// A label, then at least one `index:value` pair (or `qid:`), separated by blanks; a comment from '#' aside.
    private static func isLIBSVMLine(_ line: String) -> Bool {
        let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let tokens = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard tokens.count >= 2, Double(tokens[0]) != nil else { return false }
        return tokens.dropFirst().allSatisfy { token in
            let parts = token.split(separator: ":", omittingEmptySubsequences: false)
            return parts.count == 2 && (Int(parts[0]) != nil || parts[0] == "qid") && Double(parts[1]) != nil
        }
    }

    /// What a binary file is, said of it; nil for text.
    var binaryName: String? {
        switch self {
        case .csv, .libsvm: nil
        case .idx: "an IDX file"
        case .npy: "a NumPy .npy file"
        case .gzip: "gzip-compressed"
        case .zip: "a zip archive"
        }
    }

    /// What to do when such a file was read as another format.
    var hint: String {
        switch self {
        case .csv: "it looks like a CSV file: set data.format: csv"
        case .libsvm: "it looks like a LIBSVM file (a label, then index:value pairs): set data.format: libsvm"
        case .idx: "it looks like an IDX file: set data.format: idx, with its labels file as data.train_labels (data.test_labels)"
        case .npy: "it looks like a NumPy .npy file: set data.format: npy, with its labels file as data.train_labels (data.test_labels)"
        case .gzip: "it is gzip-compressed: unpack it first (gunzip)"
        case .zip: "it is a zip archive (an .npz holds .npy files): unpack it first"
        }
    }
}

extension DataError {
    /// This error, when it is about the file at `path` read as `format` and the file shows it is of another kind,
    /// with a hint that names that kind instead of the one the reader gave. A binary file read as text is said to be
    /// one, rather than quoting the bytes the text reader tripped over.
    public func namingKind(of path: String, readAs format: String) -> DataError {
        guard source == path || source.hasPrefix(path + ", line "), let kind = DataFileKind.of(path), kind.rawValue != format else { return self }
        var named = self
        named.hint = kind.hint
        if let binary = kind.binaryName, format == "csv" || format == "libsvm" {
            named.source = path
            named.message = "\(binary), not \(format == "csv" ? "CSV" : "LIBSVM") text"
        }
        return named
    }
}
