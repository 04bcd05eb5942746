import Foundation
import TestSupport
import Testing
import Training

@Suite struct SafetensorsTests {
    let weights: [Float] = [1, -2.5, 3, 0.125, .greatestFiniteMagnitude, -0]
    let bias: [Float] = [7, 8, 9]

    func encoded() -> [UInt8] {
        weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                Safetensors.encode([("layer0.weight", [2, 3], w), ("layer0.bias", [3], b)], metadata: ["step": "12", "note": "quote \" and \\ ok"])
            }
        }
    }

    @Test func roundTripsWithAnEightBytePaddedHeader() throws {
        let bytes = encoded()
        let headerLength = Int(bytes[0 ..< 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(headerLength % 8 == 0)
        #expect(bytes.count == 8 + headerLength + 4 * 9)
        let (tensors, metadata) = try Safetensors.decode(bytes, source: "t")
        #expect(tensors["layer0.weight"] == SafetensorsTensor(shape: [2, 3], values: weights))
        #expect(tensors["layer0.bias"] == SafetensorsTensor(shape: [3], values: bias))
        #expect(metadata == ["step": "12", "note": "quote \" and \\ ok"])
    }

    @Test func malformedFilesAreRejectedWithTheReason() {
        let good = encoded()
        func message(_ bytes: [UInt8]) -> String? {
            do { _ = try Safetensors.decode(bytes, source: "f"); return nil } catch { return "\(error)" }
        }
        #expect(message(Array(good.prefix(5)))?.contains("only 5 bytes") == true)
        #expect(message(Array(good.dropLast(4)))?.contains("disagree") == true, "truncated data")
        var huge = good
        huge[7] = 0x7F
        #expect(message(huge)?.contains("does not fit") == true)
        var notJSON = good
        notJSON[8] = UInt8(ascii: "[")
        #expect(message(notJSON)?.contains("not a JSON object") == true)
    }

    /// The reference implementation (Python `safetensors`) reads our files and we read its, where it is installed.
    @Test func agreesWithThePythonReferenceImplementation() throws {
        guard let python = Python.with(["safetensors", "numpy"]) else {
            print("skipped: no python3 with safetensors and numpy (scripts/test sets up .venv-tests)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-st-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(encoded()).write(to: URL(fileURLWithPath: "\(dir)/ours.safetensors"))
        let script = """
            import numpy as np
            from safetensors import safe_open
            from safetensors.numpy import save_file
            with safe_open("\(dir)/ours.safetensors", "np") as f:
                w, b, meta = f.get_tensor("layer0.weight"), f.get_tensor("layer0.bias"), f.metadata()
            assert w.dtype == np.float32 and w.shape == (2, 3) and w.tolist() == [[1, -2.5, 3], [0.125, float(np.finfo(np.float32).max), 0]], w
            assert b.tolist() == [7, 8, 9] and meta == {"step": "12", "note": 'quote " and \\\\ ok'}, (b, meta)
            save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([0.5], dtype=np.float32)}, "\(dir)/theirs.safetensors", metadata={"k": "v"})
            print("ok")
            """
        let (status, output) = try Python.run(python, script)
        #expect(status == 0 && output.contains("ok"), "python said: \(output)")
        let (tensors, metadata) = try Safetensors.decode(Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/theirs.safetensors"))), source: "theirs")
        #expect(tensors["a"] == SafetensorsTensor(shape: [2, 3], values: [0, 1, 2, 3, 4, 5]))
        #expect(tensors["b"] == SafetensorsTensor(shape: [1], values: [0.5]))
        #expect(metadata == ["k": "v"])
    }
}
