import Foundation

/// Reads NumPy's `.npy` format (versions 1 to 3): magic `\x93NUMPY`, a version, a header length,
/// a Python-dict header with `descr`, `fortran_order` and `shape`, then the raw data.
public enum NPYReader {
    /// Reads `path`; with `only`, just those items (rows) of it, reading no other item's bytes unless the array is
    /// stored in Fortran order, where an item's values lie apart: then it is read whole and the items kept.
    public static func read(path: String, only selection: RowSelection? = nil) throws(DataError) -> LoadedArray {
        let file = try BinaryFile(path)
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        let prefix = try file.bytes(at: 0, count: min(file.size, 12))
        guard prefix.count >= 10, Array(prefix[0 ..< 6]) == magic else {
            throw DataError(source: path, message: "not a .npy file (no \\x93NUMPY magic)", hint: "save arrays with numpy.save; .npz archives must be unpacked")
        }
        let major = prefix[6]
        let lengthBytes = major == 1 ? 2 : 4
        guard (1 ... 3).contains(major), prefix.count >= 8 + lengthBytes else {
            throw DataError(source: path, message: "unsupported .npy version \(major).\(prefix[7]); expected 1.0, 2.0 or 3.0")
        }
        let headerLength = prefix[8 ..< 8 + lengthBytes].reversed().reduce(0) { $0 << 8 | Int($1) }
        let dataStart = 8 + lengthBytes + headerLength
        guard file.size >= dataStart else { throw DataError(source: path, message: "truncated header") }
        let header = String(decoding: try file.bytes(at: 8 + lengthBytes, count: headerLength), as: UTF8.self)

        guard let descr = value(of: "descr", in: header)?.trimming("'\"") else {
            throw DataError(source: path, message: "header has no 'descr': \(header)")
        }
        let types: [String: ElementType] = ["u1": .uint8, "i1": .int8, "i2": .int16, "i4": .int32, "i8": .int64, "f4": .float32, "f8": .float64]
        let order = descr.first.flatMap { "<>|=".contains($0) ? $0 : nil }
        guard let type = types[String(descr.drop(while: { "<>|=".contains($0) }))] else {
            throw DataError(source: path, message: "dtype '\(descr)' is not supported",
                            hint: "convert with array.astype(numpy.float32); supported: float32, float64, uint8, int8, int16, int32, int64")
        }
        let fortran = value(of: "fortran_order", in: header) == "True"
        guard let shapeText = value(of: "shape", in: header) else { throw DataError(source: path, message: "header has no 'shape': \(header)") }
        var shape = shapeText.trimming("() ").split(separator: ",").compactMap { Int($0.trimming(" ")) }
        let count = shape.reduce(1, *)
        guard file.size == dataStart + count * type.size else {
            throw DataError(source: path, message: "shape \(shape) needs \(count * type.size) data bytes, file has \(file.size - dataStart)",
                            hint: "the file is truncated or was not written by numpy.save")
        }
        let bigEndian = order == ">"
        if let selection, !fortran || shape.count == 1 {
            try selection.checkFileRows(shape.first ?? 1, path: path)
            let data = try file.items(at: dataStart, itemBytes: count / max(shape.first ?? 1, 1) * type.size, rows: selection.rows)
            if !shape.isEmpty { shape[0] = selection.rows.count }
            return LoadedArray(shape: shape, values: decodeElements(data, offset: 0, count: data.count / type.size, type: type, bigEndian: bigEndian))
        }
        var values = decodeElements(try file.bytes(at: dataStart, count: count * type.size), offset: 0, count: count, type: type, bigEndian: bigEndian)
        if fortran && shape.count > 1 { values = reorderFromFortran(values, shape: shape) }
        let whole = LoadedArray(shape: shape, values: values)
        guard let selection else { return whole }
        try selection.checkFileRows(shape.first ?? 1, path: path)
        return whole.selectingItems(selection.rows)
    }

    /// The text of `key`'s value in a Python dict literal: a quoted string, a bool, or a tuple.
    static func value(of key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimming(" ")
    }

    /// Column-major to row-major for any number of dimensions.
    static func reorderFromFortran(_ values: [Float], shape: [Int]) -> [Float] {
        var result = values
        var index = [Int](repeating: 0, count: shape.count)
        for rowMajor in 0 ..< values.count {
            var columnMajor = 0, stride = 1
            for d in 0 ..< shape.count {
                columnMajor += index[d] * stride
                stride *= shape[d]
            }
            result[rowMajor] = values[columnMajor]
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return result
    }
}

extension StringProtocol {
    func trimming(_ set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
