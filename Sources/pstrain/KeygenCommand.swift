import ArgumentParser
import Foundation
import ZeroMQ
import ZMQTransport

/// `pstrain keygen`: CurveZMQ key pairs for servers and workers.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write CurveZMQ key pairs: NAME.key (public) and NAME.key_secret (secret, mode 0600).",
        discussion: """
            The files use the layout CZMQ and pyzmq share. Give the server's public key and a worker pair to \
            each worker host, and put the workers' public keys in a directory of their own on the server:

              pstrain keygen --dir keys server worker
              mkdir keys/clients && cp keys/worker.key keys/clients/
              pstrain server --bind tcp://10.0.0.1:5555 \\
                  --curve-secret keys/server.key_secret --curve-clients keys/clients ...
              pstrain worker --connect tcp://10.0.0.1:5555 \\
                  --curve-server keys/server.key --curve-secret keys/worker.key_secret ...

            Traffic is then encrypted, and a client whose public key is not in --curve-clients gets nothing \
            through. Keys are read from files only, never from the command line or the environment. An \
            existing key file is never overwritten.
            """)

    @Argument(help: ArgumentHelp("Names of the pairs to write, e.g. server worker-0 worker-1.", valueName: "name"))
    var names: [String]

    @Option(name: .long, help: ArgumentHelp("Directory to write them to (created, owner-only, if missing).", valueName: "dir"))
    var dir = "keys"

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name at least one pair, e.g. pstrain keygen server worker") }
        // A name is part of two file names that commands and configs then give: nothing a shell would split or expand.
        let allowed = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || "-_.".contains(c)) }
        for name in names where name.isEmpty || name.hasPrefix(".") || !name.allSatisfy(allowed) {
            throw ValidationError("'\(name)' is not a key name: use letters, digits, -, _ and . (not first)")
        }
        if Set(names).count != names.count { throw ValidationError("a name is given twice") }
    }

    func run() throws {
        do {
            try CurveUnavailable.check()
            // All or nothing: no pair is written if any file exists already.
            for name in names { try CurveKeyFile.checkAbsent(name: name, in: URL(fileURLWithPath: dir)) }
            for name in names {
                let files = try CurveKeyFile.write(try CurveKeyPair.generate(), name: name, in: URL(fileURLWithPath: dir))
                print("\(name): public \(files.public.path), secret \(files.secret.path) (0600)")
            }
        } catch {
            printError("pstrain keygen: error: \(error)")
            throw ExitCode.failure
        }
    }
}
