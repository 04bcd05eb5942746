import ArgumentParser
import ZMQTransport

/// The server's CurveZMQ options: its secret key file and the directory of the public keys it lets in.
struct CurveServerArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("This server's secret key file (NAME.key_secret from `pstrain keygen`): traffic is encrypted and only allowed workers get in.",
                                            valueName: "file"))
    var curveSecret: String?

    @Option(name: .long, help: ArgumentHelp("Directory of the public key files (NAME.key) of the workers allowed in; required with --curve-secret.",
                                            valueName: "dir"))
    var curveClients: String?

    func validate() throws {
        if (curveSecret == nil) != (curveClients == nil) {
            throw ValidationError("--curve-secret and --curve-clients go together: the server's own key, and the workers' keys it lets in")
        }
    }

    /// The keys, read and checked; nil when no key was given.
    func load() throws -> CurveServerKeys? {
        guard let curveSecret, let curveClients else { return nil }
        try CurveUnavailable.check()
        return CurveServerKeys(keys: try CurveKeyFile.readKeyPair(curveSecret), allowedClients: try CurveKeyFile.readAllowedKeys(directory: curveClients))
    }
}

/// A client's CurveZMQ options (`pstrain worker`, `pstrain status`): the server's public key and its own pair.
struct CurveClientArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The server's public key file (NAME.key), for a server started with --curve-secret.", valueName: "file"))
    var curveServer: String?

    @Option(name: .long, help: ArgumentHelp("This client's secret key file (NAME.key_secret); its public key must be in the server's --curve-clients.",
                                            valueName: "file"))
    var curveSecret: String?

    func validate() throws {
        if (curveServer == nil) != (curveSecret == nil) {
            throw ValidationError("--curve-server and --curve-secret go together: the server's public key, and this client's own pair")
        }
    }

    /// The keys, read and checked; nil when no key was given.
    func load() throws -> CurveClientKeys? {
        guard let curveServer, let curveSecret else { return nil }
        try CurveUnavailable.check()
        return CurveClientKeys(serverKey: try CurveKeyFile.readPublicKey(curveServer), keys: try CurveKeyFile.readKeyPair(curveSecret))
    }
}
