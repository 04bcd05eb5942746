import Foundation
import Testing
import Wire
import ZeroMQ
import ZMQTransport

/// CurveZMQ on real processes: clients without keys, or with keys the server does not allow, get nothing through;
/// an allowed client and a `launch --curve` job work as without encryption.
@Suite(.serialized) struct CurveTests {
    let config = ["--config", "configs/digits-softmax.yaml", "cluster.workers=2"]

    /// Keys as a user makes them: `pstrain keygen`, and the worker's public key copied to the allowed directory.
    func keys() throws -> URL {
        let dir = URL(fileURLWithPath: PSTrainProcess.runDirectory() + "-keys")
        let made = try PSTrainProcess.run(["keygen", "--dir", dir.path, "server", "worker"], timeout: 30)
        try #require(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("worker: public \(dir.path)/worker.key, secret \(dir.path)/worker.key_secret (0600)"))
        let clients = dir.appendingPathComponent("clients")
        try FileManager.default.createDirectory(at: clients, withIntermediateDirectories: false)
        try FileManager.default.copyItem(at: dir.appendingPathComponent("worker.key"), to: clients.appendingPathComponent("worker.key"))
        return dir
    }

    /// Sends a `stats` request (which a server answers to anyone who gets through) and waits `seconds` for the answer.
    func answered(_ endpoint: String, curve: CurveClientKeys?, seconds: Int = 2) throws -> Bool {
        let context = try ZMQContext()
        let socket = try context.socket(.dealer)
        defer { socket.close() }
        if let curve { try socket.useCurve(curve) }
        try socket.connect(endpoint)
        _ = try socket.send(Header(kind: .stats, jobID: 0, sender: -1).encoded())
        return try ZMQPoller([socket]).readable(timeoutMilliseconds: seconds * 1000)[0]
    }

    @Test func clientsWithoutAnAllowedKeyGetNothingThrough() throws {
        let keys = try keys()
        let dir = PSTrainProcess.runDirectory()
        let server = try PSTrainProcess.start(["server", "--run-dir", dir, "--curve-secret", keys.path + "/server.key_secret",
                                               "--curve-clients", keys.path + "/clients"] + config, stderrPath: "\(dir).stderr")
        defer { server.stop() }
        let endpoint = String(try #require(server.line(startingWith: "listening on "), "the server ended: \(PSTrainProcess.log("\(dir).stderr"))").dropFirst("listening on ".count))
        let serverKey = try CurveKeyFile.readPublicKey(keys.path + "/server.key")

        #expect(try !answered(endpoint, curve: nil), "a client without CURVE must not be answered")
        let stranger = try CurveKeyPair.generate()
        #expect(try !answered(endpoint, curve: CurveClientKeys(serverKey: serverKey, keys: stranger)), "an unknown key must not be answered")
        let wrongServer = try CurveKeyPair.generate().publicKey
        let worker = try CurveKeyFile.readKeyPair(keys.path + "/worker.key_secret")
        #expect(try !answered(endpoint, curve: CurveClientKeys(serverKey: wrongServer, keys: worker)), "a client that trusts another server's key")
        // The positive control: the allowed key is answered, and nobody above got registered.
        #expect(try answered(endpoint, curve: CurveClientKeys(serverKey: serverKey, keys: worker), seconds: 10))
        let status = try PSTrainProcess.run(["status", endpoint, "--json", "--curve-server", keys.path + "/server.key",
                                             "--curve-secret", keys.path + "/worker.key_secret"], timeout: 30)
        #expect(status.status == 0, "\(status.stderr)")
        let state = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8))) as? [String: Any]
        let workers = (state?["workers"] as? [[String: Any]])?.map { $0["state"] as? String }
        #expect(workers == ["unregistered", "unregistered"] && state?["rejected_messages"] as? Int == 0, "\(status.stdout)")

        let plainWorker = try PSTrainProcess.run(["worker", "--connect", endpoint, "cluster.server_timeout=2"] + config, timeout: 60)
        #expect(plainWorker.status != 0)
        #expect(plainWorker.stderr.contains("A server started with --curve-secret hears only workers with --curve-server"), "\(plainWorker.stderr)")

        let log = try String(contentsOfFile: "\(dir).stderr", encoding: .utf8)
        #expect(log.contains("refused a CurveZMQ client from 127.0.0.1: its public key \(stranger.publicKey.z85) is not among the allowed keys"), "\(log)")
    }

    @Test func anAuthorisedLaunchMeetsTheAccuracyBar() throws {
        let dir = PSTrainProcess.runDirectory()
        let result = try PSTrainProcess.run(["launch", "--curve", "--config", "configs/digits-softmax.yaml", "--workers", "4",
                                             "--run-dir", dir, "train.batch_size=8"], timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try PSTrainProcess.summary(in: dir)
        let accuracy = try #require(summary["test_accuracy"] as? Double)
        #expect(accuracy >= 0.97, "4 sync workers over CurveZMQ: test accuracy \(accuracy)")
        let secret = try FileManager.default.attributesOfItem(atPath: "\(dir)/keys/worker.key_secret")[.posixPermissions] as? NSNumber
        #expect(secret?.intValue == 0o600)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/keys/clients/worker.key"))
    }

    @Test func bindingOffLoopbackNeedsKeysOrInsecure() throws {
        let refused = try PSTrainProcess.run(["server", "--bind", "tcp://0.0.0.0:*", "--run-dir", PSTrainProcess.runDirectory()] + config, timeout: 30)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("refusing to bind tcp://0.0.0.0:*: off loopback, traffic would be neither encrypted nor authenticated"))
        #expect(refused.stderr.contains("hint: give --curve-secret and --curve-clients (keys from `pstrain keygen`)"), "\(refused.stderr)")

        let keys = try keys()
        let both = try PSTrainProcess.run(["server", "--bind", "tcp://0.0.0.0:*", "--insecure", "--curve-secret", keys.path + "/server.key_secret",
                                           "--curve-clients", keys.path + "/clients"] + config, timeout: 30)
        #expect(both.status != 0 && both.stderr.contains("--insecure and --curve-secret contradict each other"), "\(both.stderr)")

        let dir = PSTrainProcess.runDirectory()
        let server = try PSTrainProcess.start(["server", "--bind", "tcp://0.0.0.0:*", "--run-dir", dir, "--curve-secret", keys.path + "/server.key_secret",
                                               "--curve-clients", keys.path + "/clients"] + config, stderrPath: "\(dir).stderr")
        defer { server.stop() }
        let endpoint = String(try #require(server.line(startingWith: "listening on "), "the server ended: \(PSTrainProcess.log("\(dir).stderr"))").dropFirst("listening on ".count))
        let port = try #require(endpoint.split(separator: ":").last)
        let log = try String(contentsOfFile: "\(dir).stderr", encoding: .utf8)
        #expect(log.contains("pstrain server: serving every interface, port \(port): CurveZMQ, 1 allowed client key(s)"), "\(log)")
    }

    @Test func aSecretKeyOthersCanReadIsRefused() throws {
        let keys = try keys()
        let secret = keys.path + "/server.key_secret"
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: secret)
        let result = try PSTrainProcess.run(["server", "--run-dir", PSTrainProcess.runDirectory(), "--curve-secret", secret,
                                             "--curve-clients", keys.path + "/clients"] + config, timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(secret): permissions 0640 are too open"), "\(result.stderr)")
        #expect(result.stderr.contains("hint: chmod 600 \(secret)"))
    }
}
