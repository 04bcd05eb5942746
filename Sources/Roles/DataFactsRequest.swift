import Foundation
import Training
import Transport
import Wire

/// A worker's question to shard 0, before it registers: what the whole data set is (`DataFacts`), so that the worker
/// builds its server's model and then reads only its shard's rows (`PreparedRun.init(config:facts:)`).
public enum DataFactsRequest {
    /// Asks through `root` until shard 0 answers, for at most `timeout` seconds. A refusal (another job's server) or
    /// facts no server would send end the worker for good.
    public static func ask(_ root: ClientTransport, jobID: UInt64, timeout: TimeInterval, maxPayloadBytes: Int) throws -> DataFacts {
        let silence = WorkerError.serverSilent("server", at: root.serverAddress, seconds: timeout, waitingFor: "the data set's facts")
        return try askShardZero(root, frames(Header(kind: .dataFacts, jobID: jobID, sender: -1)), timeout: timeout, silence: silence,
                                maxPayloadBytes: maxPayloadBytes) { answer in
            switch answer.header.kind {
            case .dataFacts:
                do { return try DataFacts(json: answer.text ?? "") } catch {
                    throw WorkerError(message: "\(error)", hint: "run the same pstrain release everywhere", restartable: false)
                }
            case .refuse:
                throw WorkerError(message: "the server refused this worker: \(answer.text ?? "")", restartable: false)
            default:
                return nil
            }
        }
    }
}
