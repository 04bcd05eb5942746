/// Reads MNIST's IDX format: a big-endian magic `0x0000TTDD` (element type, dimension count),
/// the dimension sizes as big-endian 32-bit integers, then the data.
public enum IDXReader {
    public static func read(path: String) throws(DataError) -> LoadedArray {
        let bytes = try readFile(path)
        let expected = "expected an IDX file starting 0x00000803 (images) or 0x00000801 (labels)"
        guard bytes.count >= 4 else {
            throw DataError(source: path, message: "only \(bytes.count) bytes; \(expected)", hint: "the file is truncated or empty")
        }
        let magic = bytes[0 ..< 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let types: [UInt8: ElementType] = [0x08: .uint8, 0x09: .int8, 0x0B: .int16, 0x0C: .int32, 0x0D: .float32, 0x0E: .float64]
        guard bytes[0] == 0, bytes[1] == 0, let type = types[bytes[2]], bytes[3] >= 1 else {
            throw DataError(source: path, message: "magic number 0x\(String(magic, radix: 16, uppercase: true)); \(expected)",
                            hint: "gzip-compressed MNIST files (.gz) must be unpacked first")
        }
        let dimensions = Int(bytes[3])
        let headerSize = 4 + 4 * dimensions
        guard bytes.count >= headerSize else {
            throw DataError(source: path, message: "truncated header: \(dimensions) dimensions need \(headerSize) bytes, file has \(bytes.count)")
        }
        let shape = (0 ..< dimensions).map { d in bytes[4 + 4 * d ..< 8 + 4 * d].reduce(0) { $0 << 8 | Int($1) } }
        let count = shape.reduce(1, *)
        let needed = headerSize + count * type.size
        guard bytes.count == needed else {
            throw DataError(source: path,
                            message: "header says shape \(shape.map(String.init).joined(separator: "x")) (\(needed) bytes in all), file has \(bytes.count) bytes",
                            hint: bytes.count < needed ? "the file is truncated; download or copy it again" : "the file has trailing bytes; is it really IDX?")
        }
        return LoadedArray(shape: shape, values: decodeElements(bytes, offset: headerSize, count: count, type: type, bigEndian: true))
    }
}
