import Foundation
import Transport
import Wire

/// Sends `request` to shard 0, again every 5 s (a request that reached a shard 0 which then restarted is lost
/// with it), until `answer` makes something of a reply; throws `silence` after `timeout` seconds.
func askShardZero<T>(_ root: ClientTransport, _ request: [OutboundFrame], timeout: TimeInterval, silence: any Error,
                      maxPayloadBytes: Int, answer: (Message) throws -> T?) throws -> T {
    let deadline = Date().addingTimeInterval(timeout)
    var lastAsked = Date.distantPast
    while true {
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { throw silence }
        if Date().timeIntervalSince(lastAsked) >= 5 {
            try root.send(request)
            lastAsked = Date()
        }
        guard let received = try root.receive(timeoutMilliseconds: Int(min(left, 1) * 1000)) else { continue }
        // Read inside: the payload is valid only while the frames' bytes are lent.
        if let result = try withFrameBytes(received, { views in try answer(Message.decode(views, maxPayloadBytes: maxPayloadBytes)) }) {
            return result
        }
    }
}
