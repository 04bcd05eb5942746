import Foundation

/// One float32 tensor of a safetensors file.
public struct SafetensorsTensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header giving each
/// tensor's dtype, shape and byte range, an optional `__metadata__` map of strings, then the raw little-endian
/// data. pstrain writes float32 tensors only, contiguous in the order given, the header space-padded to 8 bytes.
public enum Safetensors {
    /// The whole file for `tensors` (name, shape, values) in that order, with `metadata`.
    public static func encode(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)], metadata: [String: String]) -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(quote($0.key)):\(quote($0.value))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for t in tensors {
            precondition(t.shape.reduce(1, *) == t.values.count, "tensor \(t.name): shape \(t.shape) does not hold \(t.values.count) values")
            let end = offset + 4 * t.values.count
            entries.append("\(quote(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
        bytes.reserveCapacity(bytes.count + offset)
        for t in tensors {
            #if _endian(little)
            bytes.append(contentsOf: UnsafeRawBufferPointer(t.values))
            #else
            for v in t.values { bytes.append(contentsOf: withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)) }
            #endif
        }
        return bytes
    }

    /// Reads a file written by `encode` or by any safetensors writer, accepting float32 tensors only.
    /// Every length and offset is checked against the file before use.
    public static func decode(_ bytes: [UInt8], source: String) throws -> (tensors: [String: SafetensorsTensor], metadata: [String: String]) {
        func fail(_ message: String) -> CheckpointError { CheckpointError(path: source, message: message) }
        guard bytes.count >= 8 else { throw fail("only \(bytes.count) bytes; a safetensors file starts with an 8-byte header length") }
        let headerLength = bytes[0 ..< 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard headerLength <= UInt64(bytes.count - 8), headerLength <= 100 << 20 else {
            throw fail("header length \(headerLength) does not fit in the file's \(bytes.count) bytes (truncated?)")
        }
        let dataStart = 8 + Int(headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8 ..< dataStart])), let header = object as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        let dataLength = bytes.count - dataStart
        var tensors: [String: SafetensorsTensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                metadata = map
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String, let shape = info["shape"] as? [Int],
                  let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor \(name): expected dtype, shape and data_offsets")
            }
            guard dtype == "F32" else { throw fail("tensor \(name) has dtype \(dtype); pstrain reads F32 only") }
            let (begin, end) = (offsets[0], offsets[1])
            guard shape.allSatisfy({ $0 >= 0 }), begin >= 0, begin <= end, end <= dataLength,
                  end - begin == 4 * shape.reduce(1, *) else {
                throw fail("tensor \(name): offsets \(offsets) and shape \(shape) disagree with each other or with the file's \(dataLength) data bytes")
            }
            let values = bytes.withUnsafeBytes { raw in
                (0 ..< (end - begin) / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + begin + 4 * $0, as: UInt32.self))) }
            }
            tensors[name] = SafetensorsTensor(shape: shape, values: values)
        }
        return (tensors, metadata)
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A checkpoint that cannot be written or read: which file, and what is wrong with it.
public struct CheckpointError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var hint: String?
    public var description: String { "\(path): \(message)" + (hint.map { "\n  hint: \($0)" } ?? "") }

    public init(path: String, message: String, hint: String? = nil) {
        self.path = path
        self.message = message
        self.hint = hint
    }
}
