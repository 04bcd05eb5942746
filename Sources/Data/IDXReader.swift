/// Reads MNIST's IDX format: a big-endian magic `0x0000TTDD` (element type, dimension count),
/// the dimension sizes as big-endian 32-bit integers, then the data.
public enum IDXReader {
    /// Reads `path`; with `only`, just those items (images, labels) of it, reading no other item's bytes.
    public static func read(path: String, only selection: RowSelection? = nil) throws(DataError) -> LoadedArray {
        let file = try BinaryFile(path)
        let expected = "expected an IDX file starting 0x00000803 (images) or 0x00000801 (labels)"
        guard file.size >= 4 else {
            throw DataError(source: path, message: "only \(file.size) bytes; \(expected)", hint: "the file is truncated or empty")
        }
        let magicBytes = try file.bytes(at: 0, count: 4)
        let magic = magicBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let types: [UInt8: ElementType] = [0x08: .uint8, 0x09: .int8, 0x0B: .int16, 0x0C: .int32, 0x0D: .float32, 0x0E: .float64]
        guard magicBytes[0] == 0, magicBytes[1] == 0, let type = types[magicBytes[2]], magicBytes[3] >= 1 else {
            throw DataError(source: path, message: "magic number 0x\(String(magic, radix: 16, uppercase: true)); \(expected)",
                            hint: "gzip-compressed MNIST files (.gz) must be unpacked first")
        }
        let dimensions = Int(magicBytes[3])
        let headerSize = 4 + 4 * dimensions
        guard file.size >= headerSize else {
            throw DataError(source: path, message: "truncated header: \(dimensions) dimensions need \(headerSize) bytes, file has \(file.size)")
        }
        let sizes = try file.bytes(at: 4, count: 4 * dimensions)
        var shape = (0 ..< dimensions).map { d in sizes[4 * d ..< 4 * d + 4].reduce(0) { $0 << 8 | Int($1) } }
        let count = shape.reduce(1, *)
        let needed = headerSize + count * type.size
        guard file.size == needed else {
            throw DataError(source: path,
                            message: "header says shape \(shape.map(String.init).joined(separator: "x")) (\(needed) bytes in all), file has \(file.size) bytes",
                            hint: file.size < needed ? "the file is truncated; download or copy it again" : "the file has trailing bytes; is it really IDX?")
        }
        let data: [UInt8]
        if let selection {
            try selection.checkFileRows(shape[0], path: path)
            data = try file.items(at: headerSize, itemBytes: count / max(shape[0], 1) * type.size, rows: selection.rows)
            shape[0] = selection.rows.count
        } else {
            data = try file.bytes(at: headerSize, count: count * type.size)
        }
        return LoadedArray(shape: shape, values: decodeElements(data, offset: 0, count: data.count / type.size, type: type, bigEndian: true))
    }
}
