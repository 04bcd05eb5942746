import ArgumentParser
import Config
import Foundation
import Glibc

/// This process's place in the cluster: command-line flags first, then the config file, then what an engine
/// (TFJob, ps-lite, Slurm, Kubernetes) put in the environment.
struct ClusterResolution {
    /// The engine's spec, nil outside any engine.
    let spec: ClusterSpec?

    /// The spec for a process started as `role` (nil: as the environment says, for `pstrain env`). A child of `pstrain launch` ignores the environment: the
    /// launcher gives it every flag, and the engine's variables (`pstrain launch` inside a Slurm allocation or a
    /// pod) describe the launcher, not it. A role merely inferred from a host name yields to the command.
    init(role: ClusterSpec.Role?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard environment[LaunchedChild.parentVariable] == nil,
              let spec = try ClusterEnvironment.resolve(environment, hostname: Self.hostname()),
              !(spec.roleInferred && role != nil && spec.role?.value != role) else {
            self.spec = nil
            return
        }
        self.spec = spec
        if let role { try check(role: role) }
    }

    static func hostname() -> String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "" }
        return name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Overrides that put the engine's worker count into the config, unless the file or an override sets it.
    func configOverrides(_ configuration: ConfigArguments) -> [String] {
        guard let workers = spec?.workers,
              !ConfigLoader.setsKey("cluster.workers", path: configuration.config, overrides: configuration.overrides) else { return [] }
        return ["cluster.workers=\(workers.value)"]
    }

    /// Fails when the engine says this process has another role, or describes several server shards.
    private func check(role: ClusterSpec.Role) throws {
        guard let spec else { return }
        if let said = spec.role, said.value != role {
            throw ValidationError("the environment says this process is a \(said.value.rawValue) (\(said.source)), not a \(role.rawValue): "
                                  + "start `pstrain \(said.value.rawValue)` here, or check the engine's settings (`pstrain env` shows them)")
        }
        if let shards = spec.serverCount, shards.value > 1 {
            throw ValidationError("the environment describes \(shards.value) server shards (\(shards.source)); pstrain serves the "
                                  + "parameters from one server so far: give the job one server")
        }
    }

    /// The address a server binds: the flag's; else its own entry in the engine's list, on that IP address, or on
    /// every interface when it is a host name (libzmq binds addresses, not names); else loopback with a free port.
    func bindAddress(flag: String?) -> String {
        if let flag { return flag }
        guard let spec, let servers = spec.servers?.value, let entry = servers[safe: spec.index?.value ?? 0] else { return "tcp://127.0.0.1:*" }
        let hostPort = entry.dropFirst("tcp://".count)
        guard let colon = hostPort.lastIndex(of: ":") else { return entry }
        let host = String(hostPort[..<colon]), port = hostPort[hostPort.index(after: colon)...]
        let literal = host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil } || host.hasPrefix("[")
        return literal ? entry : "tcp://*:\(port)"
    }

    /// The server a worker connects to: the flag's, else shard 0 of the engine's list.
    func connectAddress(flag: String?) throws -> String {
        if let flag { return flag }
        guard let server = spec?.servers?.value.first else {
            throw ValidationError("no server to connect to: give --connect ENDPOINT (the server prints it as \"listening on ...\"), "
                                  + "or start under an engine that names it (TF_CONFIG, DMLC_PS_ROOT_URI, Slurm)")
        }
        return server
    }

    /// The worker's rank: the flag's, else the engine's, else the server picks (-1).
    func rank(flag: Int?) -> Int { flag ?? spec?.index?.value ?? -1 }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
