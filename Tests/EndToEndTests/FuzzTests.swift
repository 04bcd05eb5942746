import Config
import Foundation
import Testing
import Wire
import ZeroMQ

/// A fuzzer throws 100,000 random and mutated messages at a real server's port while it trains: the server
/// must neither crash nor let them change the parameters (a sync run is deterministic, so the result must
/// equal an undisturbed run's bit for bit), and must count what it rejects.
@Suite(.serialized) struct FuzzTests {
    /// Timeouts long enough that a worker held still (SIGSTOP) while the fuzzer works is never taken for lost.
    static let overrides = ["cluster.workers=2", "train.batch_size=8", "train.epochs=5", "cluster.heartbeat_timeout=600",
                            "cluster.server_timeout=600"]
    let options = ["--config", "configs/digits-mlp.yaml"] + Self.overrides

    /// xorshift64*: a fixed seed makes a failing run repeatable.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_f491_4f6c_dd1d
        }
    }

    /// Messages of every shape a careless or hostile peer might send. None is a valid registration: the job
    /// id and layout hash of a real worker are not something bit flips produce.
    struct Fuzzer {
        var rng = Generator(state: 0x5eed_f00d)
        let jobID: UInt64
        /// Kinds a peer may send, bar register (a well-formed one would be a real worker) and stats (answered).
        let kinds: [MessageKind] = [.pull, .push, .heartbeat, .barrier, .welcome, .refuse, .weights, .shutdown]

        mutating func bytes(_ count: Int) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            out.withUnsafeMutableBytes { raw in
                for offset in stride(from: 0, to: count, by: 8) {
                    var word = rng.next()
                    withUnsafeBytes(of: &word) { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: min(8, count - offset)) }
                }
            }
            return out
        }

        mutating func header() -> [UInt8] {
            let kind = kinds.randomElement(using: &rng)!
            let job = Bool.random(using: &rng) ? jobID : UInt64.random(in: 0 ... .max, using: &rng)
            let element = kind.allowedPayloads.randomElement(using: &rng)!
            return Header(kind: kind, jobID: job, sender: Int32.random(in: -1 ... 8, using: &rng), elementType: element,
                          version: UInt64.random(in: 0 ... 5000, using: &rng), aux: UInt64.random(in: 0 ... 64, using: &rng),
                          count: UInt64.random(in: 0 ... 40_000, using: &rng)).encoded()
        }

        mutating func message() -> [[UInt8]] {
            switch Int.random(in: 0 ..< 7, using: &rng) {
            case 0: // noise
                return (0 ..< Int.random(in: 1 ... 3, using: &rng)).map { _ in bytes(Int.random(in: 0 ... 200, using: &rng)) }
            case 1: // bit flips in a well-formed header
                var h = header()
                for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) { h[Int.random(in: 0 ..< 64, using: &rng)] ^= 1 << UInt8.random(in: 0 ..< 8, using: &rng) }
                return [h]
            case 2: // truncated
                return [Array(header().prefix(Int.random(in: 0 ..< 64, using: &rng)))]
            case 3: // a kind that does not exist
                var h = header()
                let kind = UInt16.random(in: 11 ... .max, using: &rng)
                h[6] = UInt8(kind & 0xff)
                h[7] = UInt8(kind >> 8)
                return [h]
            case 4: // a huge count behind a small payload
                let h = Header(kind: .push, jobID: jobID, sender: 0, elementType: .float32, aux: 8,
                               count: UInt64.random(in: 1 << 40 ... .max, using: &rng)).encoded()
                return [h, bytes(64)]
            case 5: // a valid push header with a garbage payload of the declared size
                let count = Int.random(in: 1 ... 4096, using: &rng)
                let h = Header(kind: .push, jobID: jobID, sender: Int32.random(in: 0 ... 1, using: &rng), elementType: .float32, aux: 8,
                               count: UInt64(count)).encoded()
                return [h, bytes(4 * count)]
            default: // too many frames
                return [header()] + (0 ..< Int.random(in: 2 ... 4, using: &rng)).map { _ in bytes(16) }
            }
        }
    }

    /// Sends `count` fuzz messages round-robin over `sockets`, then a stats request on each, and waits for
    /// every stats reply: the server has then dealt with every message before them (each peer's are in order).
    /// False if the server stops taking messages (each socket's send times out after 10 s).
    static func fuzz(_ fuzzer: inout Fuzzer, count: Int, over sockets: [ZMQSocket], jobID: UInt64) throws -> Bool {
        func send(_ frames: [[UInt8]], on socket: ZMQSocket) throws -> Bool {
            for (i, frame) in frames.enumerated() where !(try socket.send(frame, more: i < frames.count - 1)) { return false }
            return true
        }
        for i in 0 ..< count where !(try send(fuzzer.message(), on: sockets[i % sockets.count])) { return false }
        for socket in sockets where try serverStep(over: socket, jobID: jobID) == nil { return false }
        return true
    }

    /// Asks the server for its stats over `socket` and returns the step its answer names; nil if no answer comes
    /// within 60 s. Replies to earlier fuzz messages (refusals) are skipped.
    static func serverStep(over socket: ZMQSocket, jobID: UInt64) throws -> UInt64? {
        guard try socket.send(Header(kind: .stats, jobID: jobID, sender: -1).encoded(), more: false) else { return nil }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard try ZMQPoller([socket]).readable(timeoutMilliseconds: 1000)[0], let frames = try socket.receiveMultipart(dontWait: true),
                  let first = frames.first, let header = first.withBytes({ try? Header.decode($0) }), header.kind == .stats else { continue }
            return header.version
        }
        return nil
    }

    @Test func aHundredThousandBadMessagesChangeNothing() throws {
        let cleanDir = PSTrainProcess.runDirectory()
        let clean = try PSTrainProcess.run(["launch", "--workers", "2", "--run-dir", cleanDir] + options, timeout: 300)
        #expect(clean.status == 0, "the clean run failed: \(clean.stderr)")

        let dir = PSTrainProcess.runDirectory()
        let server = try PSTrainProcess.start(["server", "--run-dir", dir] + options, stderrPath: "\(dir).stderr")
        defer { server.stop() }
        let endpoint = String(try #require(server.line(startingWith: "listening on ")).dropFirst("listening on ".count))
        let jobID = try ConfigLoader.load(path: PSTrainProcess.packageRoot.appendingPathComponent("configs/digits-mlp.yaml").path,
                                          overrides: Self.overrides).jobID
        let context = try ZMQContext()
        let sockets = try (0 ..< 4).map { _ in try context.socket(.dealer) }
        defer { sockets.forEach { $0.close() } }
        for socket in sockets {
            try socket.set(.sendTimeout(milliseconds: 10_000))
            try socket.connect(endpoint)
        }
        var fuzzer = Fuzzer(jobID: jobID)

        // Half while worker 0 waits for worker 1, half while both train.
        let worker0 = try PSTrainProcess.start(["worker", "--connect", endpoint, "--rank", "0"] + options, stderrPath: "\(dir).worker0")
        defer { worker0.stop() }
        #expect(try Self.fuzz(&fuzzer, count: 50_000, over: sockets, jobID: jobID), "the server stopped answering")
        let worker1 = try PSTrainProcess.start(["worker", "--connect", endpoint, "--rank", "1"] + options, stderrPath: "\(dir).worker1")
        defer { worker1.stop() }
        // The second half goes in while worker 1 is held mid-run: the server holds worker 0's gradient of a step and
        // waits for worker 1's, and the run cannot end before the fuzzer does, however slowly the machine sends.
        var step: UInt64 = 0
        let deadline = Date().addingTimeInterval(120)
        while step < 20 {
            step = try #require(try Self.serverStep(over: sockets[0], jobID: jobID), "the server stopped answering")
            try #require(worker1.process.isRunning && server.process.isRunning, "the run ended before step 20")
            try #require(Date() < deadline, "the run did not reach step 20 in 120 s (at step \(step))")
        }
        kill(worker1.process.processIdentifier, SIGSTOP)
        #expect(try Self.fuzz(&fuzzer, count: 50_000, over: sockets, jobID: jobID), "the server stopped answering")
        #expect(server.process.isRunning, "the server stopped while worker 1 was held")
        kill(worker1.process.processIdentifier, SIGCONT)

        #expect(server.wait(timeout: 300) == 0, "\((try? String(contentsOfFile: "\(dir).stderr", encoding: .utf8)) ?? "")")
        #expect(worker0.wait(timeout: 30) == 0 && worker1.wait(timeout: 30) == 0)
        let summary = try PSTrainProcess.summary(in: dir), reference = try PSTrainProcess.summary(in: cleanDir)
        for key in ["test_loss", "test_accuracy", "train_loss", "steps"] {
            #expect("\(summary[key] ?? "none")" == "\(reference[key] ?? "none")", "\(key) differs from the undisturbed run's")
        }
        // Everything but the odd bit flip that turns a message into a (refused) registration is counted.
        let rejected = try #require(summary["rejected_messages"] as? Int)
        #expect(rejected >= 99_000 && rejected <= 100_000, "\(rejected) rejected")
        let log = try String(contentsOfFile: "\(dir).stderr", encoding: .utf8)
        #expect(log.contains("rejected messages by reason:"))
    }
}
