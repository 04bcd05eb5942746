import ArgumentParser
import Foundation
import Wire

/// Encode and decode speed of the compressed payloads, beside copying the same floats.
struct CodecBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Nanoseconds per value to encode and decode fp16 and top-k payloads, against a plain float32 copy.",
        discussion: """
            Encoding includes the error feedback (adding the residual and keeping what was not sent); decoding \
            includes validation and the sum of squares, as the server does it. The copy is the float32 path's \
            cost for the same values.
            """)

    @Option(help: "Values per vector.") var count = 235_146
    @Option(help: "top-k: the fraction of entries sent.") var fraction = 0.01
    @Option(help: "Seconds to measure each figure (after a warm-up).") var seconds = 1.0

    func run() throws {
        var generator = SystemRandomNumberGenerator()
        var values = (0 ..< count).map { _ in Float(Double(generator.next() % 20001) / 10000 - 1) * 1e-2 }
        var work = values, residual = [Float](repeating: 0, count: count), scratch = residual, decoded = residual
        let k = PayloadCodec.topKCount(of: count, fraction: fraction)
        var half = [UInt8](repeating: 0, count: 2 * count), sparse = [UInt8](repeating: 0, count: 8 * k)
        print("\(count) values, top-k \(k) of them; \(ComputeBenchmark.machine())")
        print("operation            ns/value   vs float32 copy")
        let copy = nanosecondsPerValue { decoded.withUnsafeMutableBufferPointer { d in values.withUnsafeBufferPointer { _ = d.update(fromContentsOf: $0) } } }
        func report(_ name: String, _ ns: Double) {
            print(name.padding(toLength: 19, withPad: " ", startingAt: 0) + String(format: "  %8.3f   %15.1fx", ns, ns / copy))
        }
        report("float32 copy", copy)
        func encode(_ out: inout [UInt8], _ body: (UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>, UnsafeMutableRawBufferPointer) -> Void) {
            work.withUnsafeMutableBufferPointer { w in
                values.withUnsafeBufferPointer { _ = w.update(fromContentsOf: $0) }
                residual.withUnsafeMutableBufferPointer { r in
                    for i in 0 ..< w.count { w[i] += r[i] }
                    out.withUnsafeMutableBytes { body(w, r, $0) }
                }
            }
        }
        report("fp16 encode", nanosecondsPerValue { encode(&half) { PayloadCodec.encodeFloat16($0, residual: $1, into: $2) } })
        report("fp16 decode", try nanosecondsPerValue { try decode(.float16, count: count, half, into: &decoded) })
        report("top-k encode", nanosecondsPerValue {
            encode(&sparse) { w, r, out in scratch.withUnsafeMutableBufferPointer { PayloadCodec.encodeTopK(w, k: k, residual: r, scratch: $0, into: out) } }
        })
        report("top-k decode", try nanosecondsPerValue { try decode(.sparseFloat32, count: k, sparse, into: &decoded) })
        values[0] += decoded[0] // keep the results alive
    }

    func decode(_ type: ElementType, count: Int, _ payload: [UInt8], into destination: inout [Float]) throws {
        let header = Header(kind: .push, jobID: 0, sender: 0, elementType: type, count: UInt64(count)).encoded()
        try header.withUnsafeBytes { h in
            try payload.withUnsafeBytes { p in
                let message = try Message.decode([h, p], maxPayloadBytes: 1 << 30)
                _ = try destination.withUnsafeMutableBufferPointer { try PayloadCodec.decode(message, into: $0, adding: false) }
            }
        }
    }

    func nanosecondsPerValue(_ body: () throws -> Void) rethrows -> Double {
        1e9 / (try callsPerSecond(seconds: seconds, warmUp: min(0.2, seconds / 4), body) * Double(count))
    }
}
