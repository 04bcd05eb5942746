import Glibc

/// A problem with input data, phrased so that a person can fix it: where, what was found, what to do.
public struct DataError: Error, CustomStringConvertible, Equatable {
    /// The file, and the line where one applies ("train.csv, line 17").
    public var source: String
    public var message: String
    public var hint: String?

    public init(source: String, line: Int? = nil, message: String, hint: String? = nil) {
        self.source = line.map { "\(source), line \($0)" } ?? source
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "\(source): \(message)" + (hint.map { "\n  hint: \($0)" } ?? "")
    }
}

/// Reads a whole file, turning a missing or unreadable file into a `DataError` that names it.
func readFile(_ path: String) throws(DataError) -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw DataError(source: path, message: "cannot open: \(String(cString: strerror(errno)))",
                        hint: "check the path; relative paths are taken from the current directory")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n > 0 { bytes.append(contentsOf: chunk[0 ..< n]) }
        if n < chunk.count {
            if ferror(file) != 0 { throw DataError(source: path, message: "read failed: \(String(cString: strerror(errno)))") }
            return bytes
        }
    }
}
