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

    /// Overrides that put the engine's worker and server counts into the config, unless the file or an override
    /// sets them.
    func configOverrides(_ configuration: ConfigArguments) -> [String] {
        var overrides: [String] = []
        for (key, value) in [("cluster.workers", spec?.workers), ("cluster.servers", spec?.serverCount)] {
            guard let value, !ConfigLoader.setsKey(key, path: configuration.config, overrides: configuration.overrides) else { continue }
            overrides.append("\(key)=\(value.value)")
        }
        return overrides
    }

    /// Fails when the engine says this process has another role, or counts more server shards than it names (and
    /// does not have them found through shard 0).
    private func check(role: ClusterSpec.Role) throws {
        guard let spec else { return }
        if let said = spec.role, said.value != role {
            throw ValidationError("the environment says this process is a \(said.value.rawValue) (\(said.source)), not a \(role.rawValue): "
                                  + "start `pstrain \(said.value.rawValue)` here, or check the engine's settings (`pstrain env` shows them)")
        }
        if let shards = spec.serverCount, !spec.discoversShards, shards.value > (spec.servers?.value.count ?? 1) {
            throw ValidationError("the environment describes \(shards.value) server shards (\(shards.source)) but names the address of "
                                  + "\(spec.servers?.value.count ?? 0) (\(spec.servers?.source ?? "none")): name every shard, or give the flags")
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

    /// The server shards a worker connects to, shard 0 first: the flag's (comma-separated), else the engine's list.
    func connectAddresses(flag: String?) throws -> [String] {
        if let flag { return Self.list(flag) }
        guard let servers = spec?.servers?.value, !servers.isEmpty else {
            throw ValidationError("no server to connect to: give --connect ENDPOINT (the server prints it as \"listening on ...\"), "
                                  + "or start under an engine that names it (TF_CONFIG, DMLC_PS_ROOT_URI, Slurm)")
        }
        return servers
    }

    /// This server's shard: the flag's, else the engine's index, else 0.
    func shard(flag: Int?) -> Int { flag ?? spec?.index?.value ?? 0 }

    /// Shard 0's links: the endpoints of shards 1...servers-1, from the flag or the engine's list. Other shards link
    /// to none and ignore the flag, so that one command line (a StatefulSet's) serves every shard.
    func otherShards(flag: String?, shard: Int, servers: Int) throws -> [String] {
        guard shard == 0 else { return [] }
        let others = flag.map(Self.list) ?? Array((spec?.servers?.value ?? []).dropFirst())
        guard others.count == servers - 1 else {
            throw ValidationError("shard 0 of \(servers) needs the endpoints of shards 1...\(servers - 1); it has \(others.count): "
                                  + "give --other-shards EP1,EP2,... (each shard prints \"listening on ...\")")
        }
        return others
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The worker's rank: the flag's, else the engine's, else the server picks (-1).
    func rank(flag: Int?) -> Int { flag ?? spec?.index?.value ?? -1 }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
