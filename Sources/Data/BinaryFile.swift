import Glibc

/// A binary array file (IDX, NPY) open for reading at any offset: its header is read first, then its data whole or,
/// for a worker, only the items of its shard.
final class BinaryFile {
    let path: String
    /// The file's length in bytes.
    let size: Int
    private let file: UnsafeMutablePointer<FILE>

    init(_ path: String) throws(DataError) {
        self.path = path
        file = try openForReading(path)
        var status = stat()
        guard fstat(fileno(file), &status) == 0 else {
            let failure = errno
            fclose(file)
            throw DataError(source: path, message: "cannot tell its size: \(String(cString: strerror(failure)))")
        }
        size = Int(status.st_size)
    }

    deinit { fclose(file) }

    /// `count` bytes from `offset`, which the caller has checked lie in the file.
    func bytes(at offset: Int, count: Int) throws(DataError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fileno(file), $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw DataError(source: path, message: n == 0 ? "ended while being read" : "read failed: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        return bytes
    }

    /// The bytes of the items `rows` (ascending) of `itemBytes` bytes each, the first item starting at `offset`,
    /// one after another: consecutive items are read in one go.
    func items(at offset: Int, itemBytes: Int, rows: [Int]) throws(DataError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(rows.count * itemBytes)
        var start = 0
        while start < rows.count {
            var end = start + 1
            while end < rows.count && rows[end] == rows[end - 1] + 1 { end += 1 }
            bytes += try self.bytes(at: offset + rows[start] * itemBytes, count: (end - start) * itemBytes)
            start = end
        }
        return bytes
    }
}
