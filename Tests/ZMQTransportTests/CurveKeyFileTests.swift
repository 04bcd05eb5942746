import Foundation
import TestSupport
import Testing
import ZeroMQ
import ZMQTransport

/// CurveZMQ key files: written and read in the layout pyzmq and CZMQ share, checked on the way in.
@Suite struct CurveKeyFileTests {
    func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-keys-\(UUID().uuidString)")
    }

    func mode(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func libzmqHasCurve() {
        #expect(ZMQ.has("curve"), "Debian's libzmq5 is built with libsodium; CurveZMQ needs it")
    }

    @Test func aWrittenPairReadsBackWithOwnerOnlySecret() throws {
        let dir = directory()
        let pair = try CurveKeyPair.generate()
        let files = try CurveKeyFile.write(pair, name: "server", in: dir)
        #expect(files.public.lastPathComponent == "server.key" && files.secret.lastPathComponent == "server.key_secret")
        #expect(try mode(files.secret) == 0o600 && mode(files.public) == 0o644 && mode(dir) == 0o700)
        #expect(try CurveKeyFile.readPublicKey(files.public.path) == pair.publicKey)
        let read = try CurveKeyFile.readKeyPair(files.secret.path)
        #expect(read.publicKey == pair.publicKey && read.secretKey == pair.secretKey)
        let again = #expect(throws: CurveKeyFileError.self) { try CurveKeyFile.write(try CurveKeyPair.generate(), name: "server", in: dir) }
        #expect(again?.message == "already exists; pstrain keygen never overwrites a key")
        #expect(try CurveKeyFile.readKeyPair(files.secret.path).secretKey == pair.secretKey, "the first pair is untouched")
    }

    @Test func z85RoundTripsAndRejectsWhatIsNotAKey() throws {
        let pair = try CurveKeyPair.generate()
        #expect(CurveKey(z85: pair.publicKey.z85) == pair.publicKey && pair.publicKey.z85.count == 40)
        #expect(try CurveKeyPair(secretKey: pair.secretKey).publicKey == pair.publicKey, "the public key follows from the secret")
        // ZeroMQ RFC 32's test vector: these 8 bytes are "HelloWorld"; a key is 32 bytes, so 40 characters.
        #expect(CurveKey(z85: "HelloWorld") == nil)
        #expect(CurveKey(z85: String(repeating: "~", count: 40)) == nil, "~ is not in the Z85 alphabet")
        #expect(CurveKey(z85: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")?.bytes.count == 32, "the client key of zmq_curve(7)'s example")
    }

    @Test func aSecretReadableByOthersIsRefusedWithTheFix() throws {
        let files = try CurveKeyFile.write(try CurveKeyPair.generate(), name: "worker", in: directory())
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: files.secret.path)
        let error = #expect(throws: CurveKeyFileError.self) { try CurveKeyFile.readKeyPair(files.secret.path) }
        #expect(error?.description == "\(files.secret.path): permissions 0644 are too open: a secret key must be readable by its owner only"
                + "\n  hint: chmod 600 \(files.secret.path)")
    }

    @Test(arguments: [
        ("curve\n    public-key = \"short\"\n", "line 2: public-key is not 40 Z85 characters in quotes"),
        ("# only a comment\n", "no public-key line"),
    ])
    func malformedPublicKeyFilesSayWhere(text: String, message: String) throws {
        let dir = directory()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("bad.key").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: CurveKeyFileError.self) { try CurveKeyFile.readPublicKey(path) }
        #expect(error?.description.hasPrefix("\(path), \(message)") == true || error?.description.hasPrefix("\(path): \(message)") == true,
                "\(String(describing: error))")
    }

    @Test func aPublicFileIsNotASecretAndAMismatchedPairIsCaught() throws {
        let dir = directory()
        let files = try CurveKeyFile.write(try CurveKeyPair.generate(), name: "a", in: dir)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: files.public.path)
        let notSecret = #expect(throws: CurveKeyFileError.self) { try CurveKeyFile.readKeyPair(files.public.path) }
        #expect(notSecret?.message == "no secret-key line: this is a public key file")

        let other = try CurveKeyPair.generate()
        var text = try String(contentsOf: files.secret, encoding: .utf8)
        text = text.replacingOccurrences(of: try CurveKeyFile.readPublicKey(files.secret.path).z85, with: other.publicKey.z85)
        try text.write(to: files.secret, atomically: false, encoding: .utf8)
        let mixed = #expect(throws: CurveKeyFileError.self) { try CurveKeyFile.readKeyPair(files.secret.path) }
        #expect(mixed?.message == "its public-key is not the secret-key's")
    }

    @Test func allowedKeysAreTheKeyFilesOfADirectory() throws {
        let dir = directory()
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        _ = try CurveKeyFile.write(a, name: "worker-0", in: dir)
        _ = try CurveKeyFile.write(b, name: "worker-1", in: dir)
        #expect(try CurveKeyFile.readAllowedKeys(directory: dir.path) == [a.publicKey: "worker-0", b.publicKey: "worker-1"],
                "the .key files only; the .key_secret files are not public keys to allow")
        let empty = directory()
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let error = #expect(throws: CurveKeyFileError.self) { try CurveKeyFile.readAllowedKeys(directory: empty.path) }
        #expect(error?.message == "no NAME.key files: no worker could connect")
    }

    /// pyzmq reads our files, and we read pyzmq's, where pyzmq is installed (scripts/test installs it).
    @Test func pyzmqAndWeReadEachOthersFiles() throws {
        guard let python = Python.with(["zmq.auth"]) else {
            print("skipped: no Python with pyzmq (scripts/test installs it in .venv-tests)")
            return
        }
        let dir = directory()
        let ours = try CurveKeyPair.generate()
        let files = try CurveKeyFile.write(ours, name: "ours", in: dir)
        let script = """
            import zmq.auth
            public, secret = zmq.auth.load_certificate('\(files.secret.path)')
            print(public.decode(), secret.decode())
            print(zmq.auth.load_certificate('\(files.public.path)')[0].decode())
            zmq.auth.create_certificates('\(dir.path)', 'theirs')
            """
        let result = try Python.run(python, script)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.first == "\(ours.publicKey.z85) \(ours.secretKey.z85)" && lines.dropFirst().first == ours.publicKey.z85, "\(result.output)")
        // pyzmq leaves the secret file to the umask (0644 here), which we refuse: narrow it as a user would be told to.
        let theirSecret = dir.appendingPathComponent("theirs.key_secret").path
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: theirSecret)
        let theirs = try CurveKeyFile.readKeyPair(theirSecret)
        #expect(try CurveKeyFile.readPublicKey(dir.appendingPathComponent("theirs.key").path) == theirs.publicKey)
    }
}
