import Foundation
import Roles
import Testing
import ZeroMQ

/// Bad input ends in a non-zero exit and a message that names the file and line, or the key, and what to do.
@Suite struct BadInputTests {
    func fails(_ arguments: [String]) throws -> String {
        let result = try PSTrainProcess.run(["train", "--run-dir", PSTrainProcess.runDirectory()] + arguments)
        #expect(result.status != 0, "expected a failure for \(arguments)")
        return result.stderr
    }

    @Test func missingDataFile() throws {
        let stderr = try fails(["--config", "configs/digits-softmax.yaml", "data.train=nowhere/train.csv"])
        #expect(stderr.contains("pstrain: error: nowhere/train.csv: cannot open: No such file or directory"))
    }

    /// A data file in another format than data.format says is named for what it is, in every role that reads it.
    @Test func aFileInAnotherFormatIsNamed() throws {
        let stderr = try fails(["--config", "configs/digits-softmax.yaml", "data.train=Tests/Fixtures/digits/train.libsvm"])
        #expect(stderr.contains("hint: it looks like a LIBSVM file (a label, then index:value pairs): set data.format: libsvm\n"), "\(stderr)")
        let test = try fails(["--config", "configs/digits-softmax.yaml", "data.test=Tests/Fixtures/digits/test.libsvm"])
        #expect(test.contains("hint: it looks like a LIBSVM file (a label, then index:value pairs): set data.format: libsvm; "
                              + "data.format reads the training and the test files alike"), "\(test)")
        let server = try PSTrainProcess.run(["server", "--run-dir", PSTrainProcess.runDirectory(), "--config", "configs/digits-softmax.yaml",
                                             "data.format=npy", "data.train=Tests/Fixtures/digits/train-images-idx3-ubyte",
                                             "data.train_labels=Tests/Fixtures/digits/train-labels-idx1-ubyte", "data.test=null"])
        #expect(server.status == 78 && server.stderr.contains("hint: it looks like an IDX file: set data.format: idx"), "\(server.stderr)")
    }

    /// HOST:PORT, the way most tools write an address, reached ZeroMQ as "Invalid argument (errno 22)".
    @Test func anEndpointWithoutATransportIsToldWhatToWrite() throws {
        let cases: [([String], String)] = [
            (["worker", "--connect", "127.0.0.1:5555", "--rank", "0"], "--connect: '127.0.0.1:5555' names no transport: write tcp://127.0.0.1:5555"),
            (["server", "--bind", "localhost:*"], "--bind: 'localhost:*' names no transport: write tcp://localhost:*"),
            (["server", "--other-shards", "tcp://10.0.0.2:5555,node3"], "--other-shards: 'node3' is not an endpoint: write tcp://HOST:PORT or ipc://PATH"),
            (["status", "127.0.0.1:5555"], "(did you mean tcp://127.0.0.1:5555?)"),
        ]
        for (arguments, message) in cases {
            let result = try PSTrainProcess.run(arguments, timeout: 30)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    /// A worker or shard count given both by a flag and as an override: the flag won in silence.
    @Test func aCountGivenByAFlagAndAnOverrideThatDisagreeIsRefused() throws {
        let cases: [([String], String)] = [
            (["launch", "--workers", "3", "cluster.workers=2"], "cluster.workers=2 disagrees with --workers 3, which decides cluster.workers: drop one"),
            (["launch", "--servers", "2", "cluster.servers=1"], "cluster.servers=1 disagrees with --servers 2, which decides cluster.servers: drop one"),
            (["launch", "ssh", "--hosts", "node1:2,node2", "--insecure", "cluster.workers=4"],
             "cluster.workers=4 disagrees with --hosts (3 workers), which decides cluster.workers: drop one"),
            (["launch", "ssh", "--hosts", "node1", "--insecure", "cluster.servers=2"],
             "cluster.servers=2 disagrees with --servers-on (by default 1 shard), which decides cluster.servers: drop one"),
            (["sweep", "--workers", "1,2", "cluster.mode=async"], "cluster.mode=async: cluster.mode is set for each run from --modes; give --modes instead"),
        ]
        for (arguments, message) in cases {
            let result = try PSTrainProcess.run(arguments, timeout: 30)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    /// A tolerance the sweep could not mean: a negative one failed the reference run itself, and an accuracy drop of
    /// 1 or more (a user's "2" for two points) let every run pass.
    @Test func aSweepToleranceOutOfRangeIsRefused() throws {
        let cases: [([String], String)] = [
            (["--max-accuracy-drop", "2"], "--max-accuracy-drop 2.0: a fraction of accuracy, 0.01 = one point, so every run would pass; for 2 points give 0.02"),
            (["--max-accuracy-drop=-0.1"], "--max-accuracy-drop -0.1: must be at least 0 (0.01 = one point)"),
            (["--max-loss-increase=-1"], "--max-loss-increase -1.0: must be at least 0"),
        ]
        for (arguments, message) in cases {
            let result = try PSTrainProcess.run(["sweep", "--workers", "1"] + arguments, timeout: 30)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    /// The message named letters, digits, - and _, but a space (or a `$`) got through into the key files' names.
    @Test func keyNamesAreWhatTheMessageSays() throws {
        let dir = PSTrainProcess.runDirectory()
        for name in ["a b", "../x", ".hidden", "w$1"] {
            let result = try PSTrainProcess.run(["keygen", "--dir", dir, name], timeout: 30)
            #expect(result.status != 0 && result.stderr.contains("'\(name)' is not a key name: use letters, digits, -, _ and . (not first)"),
                    "\(name): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir))
        let made = try PSTrainProcess.run(["keygen", "--dir", dir, "worker-0", "node1.example_2"], timeout: 30)
        #expect(made.status == 0 && FileManager.default.fileExists(atPath: "\(dir)/node1.example_2.key_secret"), "\(made.stderr)")
    }

    @Test func malformedCSVLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-bad-\(UUID().uuidString).csv").path
        try "0,1,2,3\n1,4,5,6\n2,7,8\n".write(toFile: path, atomically: true, encoding: .utf8)
        let stderr = try fails(["data.format=csv", "data.train=\(path)", "model.kind=softmax"])
        #expect(stderr.contains("\(path), line 3: 3 columns, expected 4 (label + 3 features)"))
    }

    @Test func unknownConfigKeyAndNegativeLearningRate() throws {
        #expect(try fails(["optimizer.lrate=0.1"]).contains("optimizer.lrate: unknown key\n  hint: did you mean 'lr'?"))
        #expect(try fails(["optimizer.lr=-1"]).contains("error: command line: optimizer.lr: must be a positive number, got -1.0"))
        #expect(try fails(["--config", "configs/missing.yaml"]).contains("configs/missing.yaml: cannot read the config file"))
    }

    /// `launch ssh` refuses before connecting anywhere: servers off this host need --curve or --insecure, and a
    /// host list must parse; an unreachable host ends with ssh's reason and a hint.
    @Test func sshLaunchRefusesBadArgumentsAndUnreachableHosts() throws {
        let unprotected = try PSTrainProcess.run(["launch", "ssh", "--hosts", "node1:2"])
        #expect(unprotected.status != 0 && unprotected.stderr.contains("give --curve (encrypted, keys made for the job) or --insecure"))
        let badCount = try PSTrainProcess.run(["launch", "ssh", "--hosts", "node1:x", "--insecure"])
        #expect(badCount.status != 0 && badCount.stderr.contains("--hosts: 'node1:x': the count after ':' must be a whole number"))
        let dir = PSTrainProcess.runDirectory()
        let unreachable = try PSTrainProcess.run(["launch", "ssh", "--hosts", "pstrain-no-such-host.invalid", "--insecure", "--run-dir", dir],
                                                 timeout: 60)
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.contains("ssh pstrain-no-such-host.invalid: could not copy the job's files into \(dir) (status 255)"),
                "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("hint: `ssh pstrain-no-such-host.invalid true` must work without a password prompt"))
    }

    /// More workers than training rows is refused before a process starts or a run directory is made (a typo of
    /// --workers 1000 would otherwise start a thousand), by launch, sweep and the server alike; by `launch ssh` before
    /// it contacts a host (the host here does not exist: contacting it would fail otherwise).
    @Test func moreWorkersThanRowsStartsNothing() throws {
        let expected = "cluster.workers: 5 workers for the 4 training rows of synthetic"
        for arguments in [["launch", "--workers", "5"], ["sweep", "--workers", "1,5"], ["server", "cluster.workers=5"],
                          ["launch", "ssh", "--hosts", "pstrain-no-such-host.invalid:5", "--insecure"]] {
            let directory = PSTrainProcess.runDirectory()
            let result = try PSTrainProcess.run(arguments + ["data.samples=4", "--run-dir", directory], timeout: 60)
            #expect(result.status != 0 && result.stderr.contains(expected) && result.stderr.contains("hint: use at most 4 workers"),
                    "\(arguments): \(result.stderr)")
            #expect(!(result.stdout + result.stderr).contains("listening on") && !result.stdout.contains("registered"))
            #expect(!FileManager.default.fileExists(atPath: directory), "\(arguments) made a run directory")
        }
    }

    /// With train.drop_last, a batch larger than the smallest shard is refused before anything starts: its worker
    /// would have no whole batch (a cluster's workers refused the server's welcome of 0 steps an epoch, were
    /// restarted, and the job never ended; one process trained 0 steps and reported success).
    @Test func aBatchNoShardCanFillWithDropLastStartsNothing() throws {
        for (arguments, batch, smallest) in [(["train"], 5, 4), (["launch", "--workers", "2"], 5, 2), (["sweep", "--workers", "1,3"], 5, 4),
                                             (["sweep", "--workers", "1,3", "--per-worker-batch"], 2, 1), (["server", "cluster.workers=2"], 5, 2),
                                             (["launch", "ssh", "--hosts", "pstrain-no-such-host.invalid:2", "--insecure"], 5, 2)] {
            let directory = PSTrainProcess.runDirectory()
            let result = try PSTrainProcess.run(arguments + ["data.samples=4", "train.batch_size=\(batch)", "train.drop_last=true", "--run-dir", directory],
                                                timeout: 60)
            #expect(result.status != 0 && result.stderr.contains("train.batch_size: \(batch) with train.drop_last: true leaves no whole batch, and so no step, in ")
                    && result.stderr.contains("hint: use train.batch_size of at most \(smallest), or train.drop_last: false"), "\(arguments): \(result.stderr)")
            #expect(!(result.stdout + result.stderr).contains("listening on"))
            #expect(!FileManager.default.fileExists(atPath: directory), "\(arguments) made a run directory")
        }
        let directory = PSTrainProcess.runDirectory()
        // A global batch is refused in its own terms.
        let sweep = try PSTrainProcess.run(["sweep", "--workers", "2,4", "data.samples=8", "train.batch_size=10", "train.drop_last=true", "--run-dir", directory],
                                           timeout: 60)
        #expect(sweep.status != 0 && sweep.stderr.contains("train.batch_size: 10 split among 2 workers is 5 each: with train.drop_last: true that "
            + "leaves no whole batch, and so no step, in the smallest shard, 4 of the 8 training rows of")
            && sweep.stderr.contains("hint: use a train.batch_size (the global batch) of at most 8, or train.drop_last: false"), "\(sweep.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    /// `launch ssh` checks the shards here only where this host can read the data: data that only the other hosts
    /// hold is theirs to check, and the launch goes on to them.
    @Test func sshLaunchLeavesDataOnlyTheHostsHoldToThem() throws {
        let directory = PSTrainProcess.runDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try PSTrainProcess.run(["launch", "ssh", "--hosts", "pstrain-no-such-host.invalid:3", "--insecure", "data.format=csv",
                                             "data.train=/nonexistent/on-this-host.csv", "--run-dir", directory], timeout: 60)
        #expect(result.status != 0 && result.stderr.contains("ssh pstrain-no-such-host.invalid: could not look for the data files"), "\(result.stderr)")
    }

    /// A sweep splits its global batch among each run's workers: a batch larger than the smallest shard of its most
    /// workers, but split to fit it, is no reason to refuse the sweep.
    @Test func aSweepChecksEachRunsShareOfTheGlobalBatch() throws {
        let directory = PSTrainProcess.runDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try PSTrainProcess.run(["sweep", "--workers", "1,4", "--modes", "sync", "data.samples=8", "train.batch_size=8", "train.drop_last=true",
                                             "train.epochs=2", "--run-dir", directory], timeout: 120)
        #expect(result.status == 0 && result.stderr.contains("sync-4w, 2 per worker"), "\(result.stderr)")
    }

    /// Without `drop_last`, such a batch trains, on the whole shard each step; the command says so before it starts
    /// (under `launch`, its server does, in the output `launch` shows).
    @Test func aBatchLargerThanAShardWithoutDropLastIsNoted() throws {
        for (arguments, samples, note) in [(["train"], 4, "pstrain: note: train.batch_size 5 is more than the 4 training rows of synthetic"),
                                           (["launch", "--workers", "2"], 4, "pstrain server: note: train.batch_size 5 is more than the smallest of 2 "
                                            + "workers' shards (2 of the 4 training rows): its worker's every step takes its whole shard, a batch of 2"),
                                           (["sweep", "--workers", "2", "--modes", "sync"], 3, "pstrain sweep: note: with 2 workers, a batch of 2 each "
                                            + "(train.batch_size 5 split among 2) is more than the smallest of 2 workers' shards (1 of the 3 training rows)")] {
            let directory = PSTrainProcess.runDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let result = try PSTrainProcess.run(arguments + ["data.samples=\(samples)", "train.batch_size=5", "train.epochs=2", "--run-dir", directory],
                                                timeout: 60)
            #expect(result.status == 0 && result.stderr.contains(note), "\(arguments): \(result.stderr)")
        }
    }

    /// Run from elsewhere, a config whose data paths are written from its project's root names no file; the error
    /// says where the file is and where to run from.
    @Test func dataNamedFromTheConfigsProjectIsLocated() throws {
        let project = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-project-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: project) }
        for folder in ["configs", "data"] {
            try FileManager.default.createDirectory(at: project.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(at: PSTrainProcess.packageRoot.appendingPathComponent("Tests/Fixtures/digits/train.csv"),
                                         to: project.appendingPathComponent("data/train.csv"))
        let config = project.appendingPathComponent("configs/digits.yaml")
        try "data:\n  format: csv\n  train: data/train.csv\nmodel:\n  kind: softmax\n".write(to: config, atomically: true, encoding: .utf8)
        for (command, extra) in [("train", []), ("launch", ["--workers", "2"])] {
            let directory = PSTrainProcess.runDirectory()
            let result = try PSTrainProcess.run([command, "--config", config.path, "--run-dir", directory] + extra, timeout: 60)
            #expect(result.status != 0 && result.stderr.contains("data/train.csv: cannot open: No such file or directory\n  hint: relative paths are taken "
                + "from the current directory, \(PSTrainProcess.packageRoot.path); \(project.path)/data/train.csv exists: run from \(project.path), "
                + "or give that path"), "\(command): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory), "\(command) made a run directory")
        }
    }

    /// A server or worker that cannot read its data exits with status 78 (`ChildExitStatus.unusableInput`), which
    /// neither a launcher nor deploy/'s engines restart: started again, it would only meet the same error.
    @Test func aRoleWithoutItsDataExitsAsOneThatARestartCannotMend() throws {
        for role in [["server"], ["worker", "--connect", "tcp://127.0.0.1:9", "--rank", "0"]] {
            let result = try PSTrainProcess.run(role + ["data.format=csv", "data.train=/nonexistent/train.csv"], timeout: 60)
            #expect(result.status == ChildExitStatus.unusableInput && result.stderr.contains("/nonexistent/train.csv: cannot open"), "\(role[0]): \(result.stderr)")
        }
    }

    /// A count given as a flag is refused by that flag's name, before anything starts.
    @Test func launchNamesTheFlagOfABadCount() throws {
        for flag in ["--workers", "--servers"] {
            let directory = PSTrainProcess.runDirectory()
            let result = try PSTrainProcess.run(["launch", "\(flag)=0", "--run-dir", directory], timeout: 60)
            #expect(result.status != 0 && result.stderr.contains("\(flag) must be at least 1, got 0"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }

    /// Worker metrics ports past 65535 (one port per worker from the one given), or no port at all: refused by flag
    /// name before a run directory is made.
    @Test func launchRefusesWorkerMetricsPortsItCannotGive() throws {
        for (value, message) in [("65535", "--worker-metrics 65535: 2 workers need ports up to 65536"), ("x:y", "--worker-metrics x:y: 'y' is not a port")] {
            let directory = PSTrainProcess.runDirectory()
            let result = try PSTrainProcess.run(["launch", "--config", "configs/digits-softmax.yaml", "--workers", "2", "--worker-metrics", value,
                                                 "--run-dir", directory], timeout: 60)
            #expect(result.status != 0 && result.stderr.contains(message), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }

    /// A worker whose server never answers gives up after cluster.server_timeout, naming the address it tried.
    @Test func aWorkerWithNoServerNamesTheAddress() throws {
        // A socket that takes the connection and never reads from it.
        let silent = try ZMQContext().socket(.router)
        try silent.bind("tcp://127.0.0.1:*")
        let address = try silent.lastEndpoint
        let result = try PSTrainProcess.run(["worker", "--connect", address, "--rank", "0", "cluster.server_timeout=2",
                                             "cluster.heartbeat_interval=0.5", "cluster.heartbeat_timeout=1"], timeout: 60)
        #expect(result.status != 0 && result.stderr.contains("no answer from the server at \(address) for 2 s while waiting for welcome"),
                "\(result.stderr)")
        silent.close()
    }

    @Test func labelsOutsideTheClasses() throws {
        let stderr = try fails(["--config", "configs/digits-softmax.yaml", "model.classes=5"])
        #expect(stderr.contains("Tests/Fixtures/digits/train.csv, line "))
        #expect(stderr.contains("is not a class index in 0...4"))
    }

    /// A test set of another width than the training set is named, with scaling on (which once stopped on a
    /// precondition instead, fitting the test set to the training set's width first).
    @Test func aTestSetOfAnotherWidthIsNamed() throws {
        let test = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-narrow-\(UUID().uuidString).csv").path
        try "0,1,2\n".write(toFile: test, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: test) }
        let stderr = try fails(["--config", "configs/digits-softmax.yaml", "data.scale=standard", "data.test=\(test)"])
        #expect(stderr.contains("\(test): 2 features, but the training set has 64\n  hint: train and test must come from the same data set"),
                "\(stderr)")
    }

    @Test func divergenceIsReportedWithAHint() throws {
        // Squared error has unbounded gradients: with this rate SGD's error grows tenfold every step.
        let stderr = try fails(["--config", "configs/quickstart.yaml", "data.generator=linear", "model.kind=linear",
                                "optimizer.kind=sgd", "optimizer.lr=10", "optimizer.clip_norm=null", "optimizer.warmup_steps=0"])
        #expect(stderr.contains("training diverged at step"))
        #expect(stderr.contains("hint: lower optimizer.lr"))
    }

    @Test func helpTeachesTheUsage() throws {
        let result = try PSTrainProcess.run(["train", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("section.key=value") && result.stdout.contains("summary.json"))
    }

    /// A help text's source lines join with a single backslash; a doubled one printed a backslash and broke the line
    /// (`pstrain env --help` did). An example command is not folded at 80 columns, which would break it for pasting
    /// into a shell: a long one continues on an indented line after a shell's backslash.
    @Test func everyCommandsHelpReadsCleanly() throws {
        for command in [[], ["train"], ["launch"], ["launch", "local"], ["launch", "ssh"], ["sweep"], ["server"], ["worker"], ["status"],
                        ["keygen"], ["env"]] {
            let result = try PSTrainProcess.run(command + ["--help"])
            let name = (["pstrain"] + command).joined(separator: " ")
            #expect(result.status == 0 && result.stdout.contains("USAGE: \(name)"), "\(name)")
            let lines = result.stdout.components(separatedBy: "\nUSAGE:")[0].split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() {
                if line.contains("\\") { #expect(line.hasPrefix("  ") && line.hasSuffix(" \\"), "\(name) --help: \(line)") }
                if line.hasPrefix("  pstrain ") || line.hasPrefix("      --"), index + 1 < lines.count {
                    let next = lines[index + 1]
                    #expect(next.isEmpty || next.hasPrefix("  "), "\(name) --help folds an example: \(line) / \(next)")
                }
            }
        }
        let env = try PSTrainProcess.run(["env", "--help"]).stdout
        #expect(env.contains("\nSLURM_PROCID, SLURM_NTASKS, SLURM_JOB_NODELIST (Slurm)\n"), "\(env)")
    }
}
