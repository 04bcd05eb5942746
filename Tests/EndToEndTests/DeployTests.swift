import Config
import Foundation
import Roles
import Testing
import Yams

/// The manifests in deploy/ parse, agree with each other (names, labels, ports, key paths) and with the code's
/// defaults, and use only flags the binary knows.
@Suite struct DeployTests {
    static let deploy = PSTrainProcess.packageRoot.appendingPathComponent("deploy")

    static func documents(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: deploy.appendingPathComponent(path), encoding: .utf8)
        return try Yams.load_all(yaml: text).map { try #require($0 as? [String: Any], "\(path): a document is not a mapping") }
    }

    static func document(_ path: String, kind: String) throws -> [String: Any] {
        try #require(try documents(path).first { $0["kind"] as? String == kind }, "\(path) has no \(kind)")
    }

    /// `object[a][b]...`, failing the test with the path when a step is missing.
    static func value(_ object: Any, _ keys: String...) throws -> Any {
        var current = object
        for key in keys {
            if let index = Int(key), let list = current as? [Any], list.indices.contains(index) {
                current = list[index]
            } else {
                current = try #require((current as? [String: Any])?[key], "no \(keys.joined(separator: ".")) (stopped at \(key))")
            }
        }
        return current
    }

    static func container(_ podSpec: Any) throws -> [String: Any] {
        try #require(try value(podSpec, "containers", "0") as? [String: Any])
    }

    static func args(_ podSpec: Any) throws -> [String] {
        try #require(try container(podSpec)["args"] as? [String])
    }

    static func option(_ name: String, in args: [String]) -> String? {
        args.firstIndex(of: name).flatMap { args.indices.contains($0 + 1) ? args[$0 + 1] : nil }
    }

    /// Each key file an argument names is a Secret item mounted at that path (a directory: some item in it).
    static func checkKeyPaths(_ podSpec: Any, secretKeys: Set<String>) throws {
        let container = try container(podSpec)
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let volumes = try #require(try value(podSpec, "volumes") as? [[String: Any]])
        var files: Set<String> = []
        for mount in mounts {
            guard let volume = volumes.first(where: { $0["name"] as? String == mount["name"] as? String }),
                  let secret = volume["secret"] as? [String: Any] else { continue }
            #expect(secret["secretName"] as? String == "pstrain-keys")
            #expect(secret["defaultMode"] as? Int == 0o400, "pstrain refuses secret keys others can read")
            for item in secret["items"] as? [[String: Any]] ?? [] {
                let key = try #require(item["key"] as? String), path = try #require(item["path"] as? String)
                #expect(secretKeys.contains(key), "the Secret has no key \(key)")
                files.insert("\(mount["mountPath"] as? String ?? "")/\(path)")
            }
        }
        let args = try args(podSpec)
        for flag in ["--curve-secret", "--curve-server"] {
            guard let path = option(flag, in: args) else { continue }
            #expect(files.contains(path), "\(flag) \(path) is not a mounted key file; mounted: \(files.sorted())")
        }
        if let dir = option("--curve-clients", in: args) {
            #expect(files.contains { $0.hasPrefix(dir + "/") && $0.hasSuffix(".key") }, "no public key in \(dir)")
        }
    }

    @Test func kubernetesServerWorkersPolicyAndSecretAgree() throws {
        let service = try Self.document("kubernetes/server.yaml", kind: "Service")
        let statefulSet = try Self.document("kubernetes/server.yaml", kind: "StatefulSet")
        let job = try Self.document("kubernetes/workers.yaml", kind: "Job")
        let policy = try Self.document("kubernetes/network-policy.yaml", kind: "NetworkPolicy")
        let secret = try Self.document("kubernetes/secret.yaml", kind: "Secret")
        let secretKeys = Set(try #require(secret["stringData"] as? [String: String]).keys)

        let serviceName = try #require(try Self.value(service, "metadata", "name") as? String)
        let serverLabels = try #require(try Self.value(statefulSet, "spec", "template", "metadata", "labels") as? [String: String])
        let workerLabels = try #require(try Self.value(job, "spec", "template", "metadata", "labels") as? [String: String])
        #expect(try Self.value(service, "spec", "clusterIP") as? String == "None", "a headless Service gives each pod a DNS name")
        #expect(try Self.value(service, "spec", "selector") as? [String: String] == serverLabels)
        #expect(try Self.value(statefulSet, "spec", "serviceName") as? String == serviceName)
        #expect(try Self.value(statefulSet, "spec", "selector", "matchLabels") as? [String: String] == serverLabels)

        let serverPod = try Self.value(statefulSet, "spec", "template", "spec")
        let serverArgs = try Self.args(serverPod)
        let port = ClusterEnvironment.defaultPort
        #expect(Self.option("--bind", in: serverArgs) == "tcp://*:\(port)")
        let ports = try #require(try Self.container(serverPod)["ports"] as? [[String: Any]])
        #expect(ports.contains { $0["name"] as? String == "zmq" && $0["containerPort"] as? Int == port })
        let servicePorts = try #require(try Self.value(service, "spec", "ports") as? [[String: Any]])
        #expect(servicePorts.contains { $0["name"] as? String == "zmq" && $0["port"] as? Int == port })
        let metricsPort = try #require(Self.option("--metrics", in: serverArgs)?.split(separator: ":").last.flatMap { Int($0) })
        #expect(ports.contains { $0["name"] as? String == "metrics" && $0["containerPort"] as? Int == metricsPort })
        #expect(try Self.value(serverPod, "containers", "0", "livenessProbe", "httpGet", "path") as? String == "/healthz")
        try Self.checkKeyPaths(serverPod, secretKeys: secretKeys)

        let workerPod = try Self.value(job, "spec", "template", "spec")
        let workerArgs = try Self.args(workerPod)
        // Every shard by its stable DNS name, shard 0 first; shard 0 links to the others by the same names.
        let setName = try #require(try Self.value(statefulSet, "metadata", "name") as? String)
        let shards = try #require(try Self.value(statefulSet, "spec", "replicas") as? Int)
        let endpoints = (0 ..< shards).map { "tcp://\(setName)-\($0).\(serviceName):\(port)" }
        #expect(Self.option("--connect", in: workerArgs) == endpoints.joined(separator: ","))
        #expect(Self.option("--other-shards", in: serverArgs) == endpoints.dropFirst().joined(separator: ","))
        #expect(serverArgs.contains("cluster.servers=\(shards)") && workerArgs.contains("cluster.servers=\(shards)"))
        #expect(try Self.value(job, "spec", "completionMode") as? String == "Indexed", "JOB_COMPLETION_INDEX is the rank")
        let completions = try #require(try Self.value(job, "spec", "completions") as? Int)
        #expect(try Self.value(job, "spec", "parallelism") as? Int == completions)
        #expect(workerArgs.contains("cluster.workers=\(completions)"))
        try Self.checkKeyPaths(workerPod, secretKeys: secretKeys)
        let workerMetricsPort = try #require(Self.option("--metrics", in: workerArgs)?.split(separator: ":").last.flatMap { Int($0) })
        let workerPorts = try #require(try Self.container(workerPod)["ports"] as? [[String: Any]])
        #expect(workerPorts.contains { $0["name"] as? String == "metrics" && $0["containerPort"] as? Int == workerMetricsPort })

        #expect(try Self.value(policy, "spec", "podSelector", "matchLabels") as? [String: String] == serverLabels)
        let rule = try Self.value(policy, "spec", "ingress", "0")
        #expect(try Self.value(rule, "from", "0", "podSelector", "matchLabels") as? [String: String] == workerLabels)
        #expect(try Self.value(rule, "from", "1", "podSelector", "matchLabels") as? [String: String] == serverLabels,
                "shard 0 reaches the other shards")
        #expect(try Self.value(rule, "ports", "0", "port") as? Int == port)
    }

    @Test func tfJobLeavesPlacementToTFConfig() throws {
        let tfjob = try Self.document("kubeflow/tfjob.yaml", kind: "TFJob")
        let secretKeys = Set(try #require(try Self.document("kubernetes/secret.yaml", kind: "Secret")["stringData"] as? [String: String]).keys)
        let ps = try Self.value(tfjob, "spec", "tfReplicaSpecs", "PS", "template", "spec")
        let worker = try Self.value(tfjob, "spec", "tfReplicaSpecs", "Worker", "template", "spec")
        #expect(try Self.args(ps).first == "server" && Self.args(worker).first == "worker")
        for pod in [ps, worker] {
            let args = try Self.args(pod)
            #expect(!args.contains("--bind") && !args.contains("--connect") && !args.contains("--rank"), "TF_CONFIG places every process")
            try Self.checkKeyPaths(pod, secretKeys: secretKeys)
        }
        let ports = try #require(try Self.container(ps)["ports"] as? [[String: Any]])
        #expect(ports.contains { $0["name"] as? String == "tfjob-port" && $0["containerPort"] as? Int == 2222 }, "the operator's default port")
        #expect(try Self.value(tfjob, "spec", "tfReplicaSpecs", "PS", "replicas") as? Int == 1)
        // The run directory outlives the PS pod, so a rescheduled PS resumes with --resume-if-exists.
        let claim = try Self.document("kubeflow/tfjob.yaml", kind: "PersistentVolumeClaim")
        let mount = try #require((try Self.container(ps)["volumeMounts"] as? [[String: Any]])?.first { $0["mountPath"] as? String == "/runs" })
        let volume = try #require((try Self.value(ps, "volumes") as? [[String: Any]])?.first { $0["name"] as? String == mount["name"] as? String })
        #expect(try Self.value(volume, "persistentVolumeClaim", "claimName") as? String == Self.value(claim, "metadata", "name") as? String)
        #expect(try Self.args(ps).contains("--resume-if-exists") && Self.args(ps).contains("/runs/job"))
    }

    /// Every `--flag` the manifests, the Slurm script and the systemd units give `pstrain server` or `pstrain
    /// worker` is one the binary's `--help` lists, and every config they name exists.
    @Test func everyFlagAndConfigTheyUseExists() throws {
        var uses: [(command: String, flags: Set<String>, source: String)] = []
        for path in ["kubernetes/server.yaml", "kubernetes/workers.yaml", "kubeflow/tfjob.yaml"] {
            let text = try String(contentsOf: Self.deploy.appendingPathComponent(path), encoding: .utf8)
            for match in text.matches(of: /args: \[(server|worker),([^\]]*)\]/) {
                uses.append((String(match.1), Self.flags(in: String(match.2)), path))
            }
        }
        for path in ["slurm/pstrain.sbatch", "systemd/pstrain-server.service", "systemd/pstrain-worker@.service"] {
            let text = try String(contentsOf: Self.deploy.appendingPathComponent(path), encoding: .utf8).replacingOccurrences(of: "\\\n", with: " ")
            for match in text.matches(of: /pstrain (server|worker)([^\n;&]*)/) {
                uses.append((String(match.1), Self.flags(in: String(match.2) + " " + text.matching(/SERVE="([^"]*)"/)), path))
            }
        }
        #expect(Set(uses.map(\.command)) == ["server", "worker"] && uses.count >= 7, "\(uses.map { "\($0.source): \($0.command)" })")
        for command in ["server", "worker"] {
            let help = try PSTrainProcess.run([command, "--help"], timeout: 30).stdout
            for use in uses where use.command == command {
                for flag in use.flags { #expect(help.contains(flag + " "), "\(use.source): pstrain \(command) has no \(flag)") }
            }
        }
        let text = try String(contentsOf: Self.deploy.appendingPathComponent("docker/Dockerfile"), encoding: .utf8)
        #expect(text.contains("COPY configs /opt/pstrain/configs"))
        #expect(FileManager.default.fileExists(atPath: PSTrainProcess.packageRoot.appendingPathComponent("configs/quickstart.yaml").path))
    }

    /// A role that cannot use its config or data exits with `ChildExitStatus.unusableInput`: the systemd units do not
    /// restart it every few seconds forever, and the workers' Job fails at once rather than after every index's retries.
    @Test func enginesDoNotRestartARoleThatCannotUseItsInput() throws {
        let status = Int(ChildExitStatus.unusableInput)
        for path in ["systemd/pstrain-server.service", "systemd/pstrain-worker@.service"] {
            let text = try String(contentsOf: Self.deploy.appendingPathComponent(path), encoding: .utf8)
            #expect(text.contains("\nRestart=on-failure\n") && text.contains("\nRestartPreventExitStatus=\(status)\n"), "\(path)")
        }
        let job = try Self.document("kubernetes/workers.yaml", kind: "Job")
        #expect(try Self.value(job, "spec", "template", "spec", "restartPolicy") as? String == "Never", "a pod failure policy needs it")
        let rule = try Self.value(job, "spec", "podFailurePolicy", "rules", "0")
        #expect(try Self.value(rule, "action") as? String == "FailJob")
        #expect(try Self.value(rule, "onExitCodes", "operator") as? String == "In")
        #expect(try Self.value(rule, "onExitCodes", "values") as? [Int] == [status])
        let container = try Self.container(try Self.value(job, "spec", "template", "spec"))
        #expect(try Self.value(rule, "onExitCodes", "containerName") as? String == container["name"] as? String)
    }

    static func flags(in text: String) -> Set<String> {
        Set(text.matches(of: /--[a-z][a-z-]*/).map { String($0.0) })
    }
}

extension String {
    /// The first capture of `regex` in this text, or "".
    func matching(_ regex: Regex<(Substring, Substring)>) -> String {
        firstMatch(of: regex).map { String($0.1) } ?? ""
    }
}
