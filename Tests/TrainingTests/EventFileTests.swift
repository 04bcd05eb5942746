import Foundation
import TestSupport
import Testing
import Config
import Training

@Suite struct EventFileTests {
    @Test func crc32cMatchesKnownVectors() {
        // RFC 3720 (iSCSI) appendix B.4 and the common check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0 ..< 32).map(UInt8.init)) == 0x46DD_794E)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let crc = CRC32C.checksum(Array("123456789".utf8))
        #expect(CRC32C.masked(Array("123456789".utf8)) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    /// Reads the records back by their framing and decodes the protocol buffers with a minimal reader.
    @Test func recordsFrameAndEncodeScalars() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-events-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let writer = try EventFileWriter(directory: dir)
        writer.scalar("metrics/loss", 0.25, step: 300, wallTime: 1_700_000_000.5)
        #expect(writer.url.lastPathComponent.hasPrefix("events.out.tfevents."))
        let bytes = Array(try Data(contentsOf: writer.url))
        var records: [[UInt8]] = []
        var at = 0
        while at < bytes.count {
            let lengthBytes = Array(bytes[at ..< at + 8])
            let length = Int(lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            let lengthCRC = bytes[at + 8 ..< at + 12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(lengthCRC == CRC32C.masked(lengthBytes))
            let data = Array(bytes[at + 12 ..< at + 12 + length])
            let dataCRC = bytes[at + 12 + length ..< at + 16 + length].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(dataCRC == CRC32C.masked(data))
            records.append(data)
            at += 16 + length
        }
        #expect(records.count == 2)
        #expect(String(decoding: records[0].suffix(13), as: UTF8.self) == "brain.Event:2")
        // wall_time (field 1, fixed64), step (field 2, varint 300 = ac 02), summary (field 5) > value > tag, simple_value.
        let scalar = records[1]
        #expect(scalar[0] == 0x09 && Double(bitPattern: scalar[1 ..< 9].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) == 1_700_000_000.5)
        #expect(Array(scalar[9 ..< 12]) == [0x10, 0xAC, 0x02])
        #expect(scalar[12] == 0x2A)
        let tag = Array("metrics/loss".utf8)
        #expect(Array(scalar[16 ..< 18]) == [0x0A, UInt8(tag.count)] && Array(scalar[18 ..< 18 + tag.count]) == tag)
        #expect(Array(scalar.suffix(5)) == [0x15] + withUnsafeBytes(of: Float(0.25).bitPattern.littleEndian, Array.init))
    }

    /// A real run's event file, read by TensorBoard's own `EventAccumulator` where it is installed.
    @Test func tensorBoardReadsARunsScalars() throws {
        guard let python = Python.with(["tensorboard"]) else {
            print("skipped: no python3 with tensorboard (scripts/test sets up .venv-tests)")
            return
        }
        var config = RunConfig()
        config.data.samples = 2000
        config.data.testSamples = 200
        config.data.features = 8
        config.train.epochs = 3
        config.train.logEvery = 10
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-tb-\(UUID().uuidString)").path
        let summary = try LocalTrainer(run: try PreparedRun(config: config), directory: try RunDirectory(path: path), quiet: true).train()
        let (status, output) = try Python.run(python, """
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            acc = EventAccumulator("\(path)"); acc.Reload()
            loss, accuracy = acc.Scalars("metrics/loss"), acc.Scalars("evaluation/test_accuracy")
            print(len(loss), loss[-1].step, repr(loss[-1].value), len(accuracy), repr(accuracy[-1].value))
            """)
        #expect(status == 0, "python said: \(output)")
        let fields = output.split(whereSeparator: \.isWhitespace)
        let rows = try String(contentsOfFile: "\(path)/metrics.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(fields.count == 5)
        #expect(fields.first.flatMap { Int($0) } == rows.count, "one loss point per metrics.csv row")
        #expect(fields.dropFirst().first.flatMap { Int($0) } == summary.steps)
        let lastLoss = Double(rows.last!.split(separator: ",")[3])!
        #expect(abs(Double(fields[2])! - lastLoss) < 1e-6 * max(1, lastLoss), "float32 scalar of the logged loss")
        #expect(Int(fields[3]) == 3 && abs(Double(fields[4])! - summary.testAccuracy!) < 1e-6)
    }
}
