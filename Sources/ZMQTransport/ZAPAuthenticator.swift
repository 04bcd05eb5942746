import Foundation
import ZeroMQ

/// libzmq's authentication hook for one context (ZAP, ZeroMQ RFC 27): a thread of its own answers each CURVE
/// handshake, letting a client in only if its public key is allowed. Everyone else gets nothing through.
final class ZAPAuthenticator: @unchecked Sendable {
    // @unchecked: the socket is used by the authenticator's thread alone; the variables below are guarded by `lock`.

    /// Where libzmq sends its requests, in every context.
    static let endpoint = "inproc://zeromq.zap.01"
    /// Clients refused are logged once per key, up to this many keys.
    static let loggedKeysLimit = 100

    private let lock = NSLock()
    private var stopping = false
    private var loggedKeys: Set<CurveKey> = []
    private let finished = DispatchSemaphore(value: 0)

    /// Binds the ZAP endpoint (call before the server socket binds) and starts answering.
    init(context: ZMQContext, allowed: [CurveKey: String], log: @escaping @Sendable (String) -> Void) throws {
        let socket = try context.socket(.rep)
        try socket.set(.linger(milliseconds: 0))
        try socket.bind(Self.endpoint)
        let thread = Thread { [self] in
            serve(socket, allowed: allowed, log: log)
            socket.close()
            finished.signal()
        }
        thread.name = "pstrain-zap"
        thread.start()
    }

    /// Stops answering (within 200 ms) and closes the socket.
    func stop() {
        let wasRunning = lock.withLock { () -> Bool in
            let running = !stopping
            stopping = true
            return running
        }
        if wasRunning { finished.wait() }
    }

    private func serve(_ socket: ZMQSocket, allowed: [CurveKey: String], log: @Sendable (String) -> Void) {
        while !lock.withLock({ stopping }) {
            do {
                guard try ZMQPoller([socket]).readable(timeoutMilliseconds: 200)[0],
                      let request = try socket.receiveMultipart(dontWait: true) else { continue }
                try socket.sendMultipart(answer(request.map(\.bytes), allowed: allowed, log: log))
            } catch {
                log("pstrain: CurveZMQ authentication stopped: \(error)")
                return
            }
        }
    }

    /// The reply to one request: version, request id, status code and text, user id, metadata.
    func answer(_ frames: [[UInt8]], allowed: [CurveKey: String], log: @Sendable (String) -> Void) -> [[UInt8]] {
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else {
            return [Array("1.0".utf8), frames.count > 1 ? frames[1] : [], Array("500".utf8), Array("malformed ZAP request".utf8), [], []]
        }
        let requestID = frames[1], address = String(decoding: frames[3], as: UTF8.self), mechanism = String(decoding: frames[5], as: UTF8.self)
        func reply(_ code: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard mechanism == "CURVE", frames.count >= 7, let key = CurveKey(bytes: frames[6]) else {
            return reply("400", "only CURVE clients with an allowed key are served")
        }
        if let name = allowed[key] { return reply("200", "OK", user: name) }
        let firstTime = lock.withLock {
            loggedKeys.count < Self.loggedKeysLimit && loggedKeys.insert(key).inserted
        }
        if firstTime {
            log("pstrain server: refused a CurveZMQ client from \(address): its public key \(key.z85) is not among the allowed keys"
                + " (further attempts with it are not logged)")
        }
        return reply("400", "public key not allowed")
    }
}
