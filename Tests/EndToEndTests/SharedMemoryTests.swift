import Foundation
import Testing

/// Payloads through shared memory between `pstrain worker` and `pstrain server` processes on one host.
@Suite(.serialized) struct SharedMemoryTests {
    /// The tensors of the run's last checkpoint: a safetensors file without its header, whose metadata records
    /// the run's wall time.
    func finalTensors(_ dir: String) throws -> Data {
        let latest = try String(contentsOfFile: "\(dir)/checkpoints/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let file = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/checkpoints/\(latest)"))
        let headerLength = file.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return file.dropFirst(8 + headerLength)
    }

    /// The digits MLP's 19,210 parameters make payloads above the size that goes through a segment.
    @Test func aSyncJobTrainsBitForBitAsOverTheConnection() throws {
        var tensors: [Data] = []
        for shared in [true, false] {
            let dir = PSTrainProcess.runDirectory()
            let result = try PSTrainProcess.run(["launch", "--config", "configs/digits-mlp.yaml", "--workers", "2", "--run-dir", dir,
                                                 "train.batch_size=16", "train.epochs=3", "cluster.shared_memory=\(shared)"])
            #expect(result.status == 0, "\(result.stderr)")
            let log = PSTrainProcess.log("\(dir)/server.log")
            let through = log.split(separator: "\n").filter { $0.hasSuffix("payloads through shared memory") }
            #expect(through.count == (shared ? 2 : 0), "\(log)")
            tensors.append(try finalTensors(dir))
        }
        #expect(tensors[0] == tensors[1] && tensors[0].count >= 4 * 19_210)
    }
}
