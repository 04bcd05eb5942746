import Glibc

/// A problem with input data, phrased so that a person can fix it: where, what was found, what to do.
public struct DataError: Error, CustomStringConvertible, Equatable {
    /// The file, and the line where one applies ("train.csv, line 17").
    public var source: String
    public var message: String
    public var hint: String?
    /// The path as given, when the problem is that no file is there.
    public var missingPath: String?

    public init(source: String, line: Int? = nil, message: String, hint: String? = nil, missingPath: String? = nil) {
        self.source = line.map { "\(source), line \($0)" } ?? source
        self.message = message
        self.hint = hint
        self.missingPath = missingPath
    }

    /// For a relative path that names no file from the current directory but does from `directory` or a directory
    /// above it (a config file's, whose paths may be written from its project's root): this error with a hint to
    /// run from there. Unchanged otherwise.
    public func locatingMissingFile(near directory: String) -> DataError {
        guard let missing = missingPath, !missing.hasPrefix("/"), let here = currentDirectory() else { return self }
        var base = lexicallyNormal(directory.hasPrefix("/") ? directory : here + "/" + directory)
        while true {
            let candidate = (base.hasSuffix("/") ? base : base + "/") + missing
            if access(candidate, R_OK) == 0 {
                var located = self
                located.hint = "relative paths are taken from the current directory, \(here); \(candidate) exists: run from \(base), or give that path"
                return located
            }
            guard let slash = base.lastIndex(of: "/"), base != "/" else { return self }
            base = slash == base.startIndex ? "/" : String(base[..<slash])
        }
    }

    public var description: String {
        "\(source): \(message)" + (hint.map { "\n  hint: \($0)" } ?? "")
    }
}

/// Refuses a data file that cannot be opened for reading, as reading it would.
public func checkReadable(_ path: String) throws(DataError) {
    fclose(try openForReading(path))
}

/// `path` opened for reading, or why not.
func openForReading(_ path: String) throws(DataError) -> UnsafeMutablePointer<FILE> {
    guard let file = fopen(path, "rb") else {
        let failure = errno
        throw DataError(source: path, message: "cannot open: \(String(cString: strerror(failure)))",
                        hint: "check the path; relative paths are taken from the current directory", missingPath: failure == ENOENT ? path : nil)
    }
    return file
}

/// The current directory's absolute path; nil if it cannot be told (it was removed, say).
private func currentDirectory() -> String? {
    guard let path = getcwd(nil, 0) else { return nil }
    defer { free(path) }
    return String(cString: path)
}

/// An absolute `path` without `.` and `..` parts or repeated slashes, as a person would write it.
private func lexicallyNormal(_ path: String) -> String {
    var parts: [Substring] = []
    for part in path.split(separator: "/") where part != "." {
        if part == ".." { _ = parts.popLast() } else { parts.append(part) }
    }
    return "/" + parts.joined(separator: "/")
}
