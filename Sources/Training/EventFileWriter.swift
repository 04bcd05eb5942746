import Foundation

/// Writes TensorBoard event files: TFRecord framing (length, masked CRC-32C of the length, data, masked CRC-32C
/// of the data) around `Event` protocol buffers, encoded here by hand for the few fields scalars need:
/// Event { wall_time = 1 (double); step = 2 (int64); file_version = 3 (string); summary = 5 (Summary) },
/// Summary { value = 1 (repeated Value) }, Value { tag = 1 (string); simple_value = 2 (float) }.
public final class EventFileWriter {
    private let handle: FileHandle
    /// The file, `events.out.tfevents.<unix time>.<host>` as TensorBoard expects.
    public let url: URL

    /// Creates the event file in `directory`, or continues the run's existing one when `appending`.
    public init(directory: URL, appending: Bool = false) throws {
        let existing = appending
            ? (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.filter { $0.hasPrefix("events.out.tfevents.") }.sorted().last
            : nil
        if let existing {
            url = directory.appendingPathComponent(existing)
            handle = try FileHandle(forWritingTo: url)
            handle.seekToEndOfFile()
            return
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host)")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw RunDirectoryError(path: url.path, message: "cannot create the TensorBoard event file")
        }
        handle = try FileHandle(forWritingTo: url)
        var first = Self.double(field: 1, Date().timeIntervalSince1970)
        first += Self.bytes(field: 3, Array("brain.Event:2".utf8))
        handle.write(Data(Self.record(first)))
    }

    deinit { try? handle.close() }

    /// Appends one scalar, as TensorBoard's scalars dashboard reads it.
    public func scalar(_ tag: String, _ value: Double, step: Int, wallTime: Double = Date().timeIntervalSince1970) {
        var summaryValue = Self.bytes(field: 1, Array(tag.utf8))
        summaryValue += Self.key(field: 2, wireType: 5) + withUnsafeBytes(of: Float(value).bitPattern.littleEndian, Array.init)
        let summary = Self.bytes(field: 1, summaryValue)
        var event = Self.double(field: 1, wallTime)
        event += Self.key(field: 2, wireType: 0) + Self.varint(UInt64(bitPattern: Int64(step)))
        event += Self.bytes(field: 5, summary)
        handle.write(Data(Self.record(event)))
    }

    /// One TFRecord: little-endian length, its masked CRC, the data, the data's masked CRC.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        return length + le(CRC32C.masked(length)) + data + le(CRC32C.masked(data))
    }

    static func le(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            out.append(UInt8(v & 0x7F) | (v >= 0x80 ? 0x80 : 0))
            v >>= 7
        } while v != 0
        return out
    }

    static func key(field: Int, wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }

    static func bytes(field: Int, _ payload: [UInt8]) -> [UInt8] { key(field: field, wireType: 2) + varint(UInt64(payload.count)) + payload }

    static func double(field: Int, _ value: Double) -> [UInt8] {
        key(field: field, wireType: 1) + withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }
}
