import Config
import Foundation
import Optimizers
import Testing

/// A key that the config's kinds leave unread is refused where it was given, and the run directory's config holds
/// only the keys its kinds read.
@Suite struct UnusedKeyTests {
    let files = ConfigLoaderTests()

    @Test func aKeyTheKindDoesNotReadIsRefusedWhereItWasGiven() throws {
        let file = try files.write("optimizer:\n  kind: sgd\n  lr: 0.1\n  momentum: 0.9\n")
        let momentum = try #require(files.error { _ = try ConfigLoader.load(path: file) })
        #expect(momentum.key == "optimizer.momentum" && momentum.source == "\(file), line 4", "\(momentum)")
        #expect(momentum.message == "optimizer.kind sgd has no momentum")
        #expect(momentum.hint?.hasPrefix("kind: momentum is SGD with momentum") == true && momentum.hint?.hasSuffix("else leave momentum out") == true)

        let cases: [([String], String, String)] = [
            (["data.train=train.csv"], "data.train", "data.format synthetic reads no file: it generates its samples"),
            (["data.format=libsvm", "data.train=t.libsvm", "data.delimiter=';'"], "data.delimiter", "data.format libsvm has no columns to name"),
            (["data.format=csv", "data.train=t.csv", "data.train_labels=l.csv"], "data.train_labels",
             "data.format csv holds the labels in the features' file"),
            (["data.format=csv", "data.train=t.csv", "data.features=8"], "data.features", "data.format csv reads the number of features from its files"),
            (["data.format=npy", "data.train=t.npy", "data.train_labels=l.npy", "data.samples=8"], "data.samples",
             "data.format npy reads its samples from files: only synthetic data is generated"),
            (["data.format=csv", "data.train=t.csv", "data.seed=3"], "data.seed", "data.format csv draws nothing at random without data.test_fraction"),
            (["model.kind=softmax", "model.hidden=[64]"], "model.hidden", "model.kind softmax has no hidden layers"),
            (["model.init_scale=0.1"], "model.init_scale", "model.init xavier_uniform takes no scale"),
            (["model.kind=softmax", "model.head=binary"], "model.head", "model.kind softmax has its own head: multiclass"),
            (["model.kind=linear", "data.generator=linear", "model.classes=5"], "model.classes", "model.kind linear predicts numbers, not classes"),
            (["model.head=regression", "data.generator=linear", "model.classes=5"], "model.classes", "model.head regression predicts numbers, not classes"),
            (["model.kind=logistic", "data.generator=logistic", "model.classes=3"], "model.classes", "model.kind logistic has two classes, always"),
            (["optimizer.kind=sgd", "optimizer.beta1=0.8"], "optimizer.beta1", "optimizer.kind sgd does not use it"),
            (["optimizer.rho=0.9"], "optimizer.rho", "optimizer.kind adam does not use it"),
            (["optimizer.kind=momentum", "optimizer.epsilon=1e-6"], "optimizer.epsilon", "optimizer.kind momentum does not use it"),
            (["optimizer.schedule=cosine", "optimizer.gamma=0.5"], "optimizer.gamma", "optimizer.schedule cosine does not use it"),
            (["optimizer.schedule=step", "optimizer.min_lr=0"], "optimizer.min_lr", "optimizer.schedule step does not use it"),
        ]
        for (overrides, key, message) in cases {
            let refused = files.error { _ = try ConfigLoader.load(path: nil, overrides: overrides) }
            #expect(refused?.key == key && refused?.source == "command line" && refused?.message == message,
                    "\(overrides): \(String(describing: refused))")
        }
        // The hint names the format the file's name suggests.
        let npy = files.error { _ = try ConfigLoader.load(path: nil, overrides: ["data.train=x/train.npy"]) }
        #expect(npy?.hint == "set data.format to the file's format: npy; else leave train out", "\(String(describing: npy))")
    }

    @Test func whatTheKindReadsIsTaken() throws {
        for overrides in [["optimizer.kind=rmsprop", "optimizer.momentum=0.5"], ["optimizer.kind=nesterov", "optimizer.momentum=0.8"],
                          ["optimizer.kind=adamw", "optimizer.beta2=0.99", "optimizer.epsilon=1e-6"],
                          ["optimizer.kind=adagrad", "optimizer.initial_accumulator=0.1"],
                          ["optimizer.schedule=step", "optimizer.gamma=0.5", "optimizer.step_size=10"],
                          ["optimizer.schedule=exponential", "optimizer.gamma=0.5", "optimizer.decay_steps=10"],
                          ["optimizer.schedule=cosine", "optimizer.min_lr=0"],
                          ["data.features=20", "data.noise=0.5", "data.seed=3"], ["data.format=csv", "data.train=t.csv", "data.test_fraction=0.2", "data.seed=3"], ["data.format=libsvm", "data.train=t.libsvm", "data.features=20"],
                          ["data.format=idx", "data.train=a", "data.train_labels=b"], ["data.format=csv", "data.train=t.csv", "data.header=true"],
                          ["model.init=normal", "model.init_scale=0.1"], ["model.kind=softmax", "model.classes=12"],
                          ["model.head=multiclass", "model.classes=12"],
                          // Null leaves a key out.
                          ["optimizer.kind=sgd", "optimizer.momentum=null"], ["data.test=null"]] {
            #expect(throws: Never.self, "\(overrides)") { try ConfigLoader.load(path: nil, overrides: overrides) }
        }
    }

    /// `model.kind=softmax` on an MLP's config trains a softmax: the file's keys for the kind it named are let be.
    /// A key given on the command line is still refused, and so is one the file's own kind does not read.
    @Test func anOverrideThatChangesTheKindLetsTheFilesKeysForTheOldOneBe() throws {
        let mlp = try files.write("model:\n  kind: mlp\n  hidden: [64]\n  dropout: 0.1\noptimizer:\n  kind: adam\n  beta1: 0.8\n")
        let softmax = try ConfigLoader.load(path: mlp, overrides: ["model.kind=softmax", "optimizer.kind=sgd"])
        #expect(softmax.model.kind == .softmax && softmax.optimizer.kind == .sgd)
        let given = files.error { _ = try ConfigLoader.load(path: mlp, overrides: ["model.kind=softmax", "model.hidden=[32]"]) }
        #expect(given?.key == "model.hidden" && given?.source == "command line", "\(String(describing: given))")
        let other = files.error { _ = try ConfigLoader.load(path: mlp, overrides: ["optimizer.kind=sgd"]) }
        #expect(other == nil, "beta1 belongs to the kind the override replaced")
        let headed = try files.write("model:\n  kind: mlp\n  hidden: [64]\n  head: binary\n")
        #expect(try ConfigLoader.load(path: headed, overrides: ["model.kind=linear"]).model.outputHead == .regression)
        let own = try files.write("model:\n  kind: softmax\n  hidden: [64]\n")
        let refused = files.error { _ = try ConfigLoader.load(path: own, overrides: ["optimizer.kind=sgd"]) }
        #expect(refused?.key == "model.hidden" && refused?.source == "\(own), line 3", "\(String(describing: refused))")
    }

    /// Every kind's run-directory config loads back to the same config and job id, and writes the momentum its
    /// optimizer uses; a key that nothing reads is not written.
    @Test func theRunDirectoryConfigHoldsWhatItsKindsReadAndLoadsBack() throws {
        for kind in OptimizerKind.allCases {
            for schedule in ScheduleKind.allCases {
                for format in DataFormat.allCases {
                    for model in [ModelKind.softmax, .mlp] {
                        var config = RunConfig()
                        config.optimizer.kind = kind
                        config.optimizer.schedule = schedule
                        config.model.kind = model
                        config.data.format = format
                        if format != .synthetic { config.data.train = "train.\(format.rawValue)" }
                        if format == .idx || format == .npy { config.data.trainLabels = "labels.\(format.rawValue)" }
                        let text = ConfigLoader.yaml(config)
                        var expected = config
                        if [.momentum, .nesterov, .rmsprop].contains(kind) { expected.optimizer.momentum = kind == .rmsprop ? 0 : 0.9 }
                        let back = try ConfigLoader.load(path: try files.write(text))
                        #expect(back == expected && back.jobID == config.jobID, "\(kind) \(schedule) \(format) \(model)")
                    }
                }
            }
        }
        let defaults = ConfigLoader.yaml(RunConfig())
        for unread in ["momentum:", "rho:", "initial_accumulator:", "gamma:", "step_size:", "min_lr:", "header:", "label_column:", "init_scale:"] {
            #expect(!defaults.contains(unread), "\(unread)")
        }
        #expect(defaults.contains("beta1: 9e-1\n") && defaults.contains("generator: blobs\n") && defaults.contains("hidden:\n"))
        var rmsprop = RunConfig()
        rmsprop.optimizer.kind = .rmsprop
        #expect(ConfigLoader.yaml(rmsprop).contains("  momentum: 0e+0\n  epsilon: 1e-08\n  rho: 9.9e-1\n"))
    }

    /// The keys let be are dropped as the config loads, so that its run-directory config, which leaves them out,
    /// loads back to the same config and job id: else `--resume` refuses the run's checkpoints as another config's.
    @Test func aConfigWithKeysLetBeLoadsBackFromItsRunDirectory() throws {
        let mlp = try files.write("model:\n  kind: mlp\n  hidden: [256]\n  dropout: 0.2\n  head: multiclass\n  classes: 5\n" +
                                  "optimizer:\n  kind: adam\n  beta1: 0.8\n  schedule: step\n  step_size: 10\n")
        let loaded = try ConfigLoader.load(path: mlp, overrides: ["model.kind=linear", "data.generator=linear", "optimizer.kind=sgd",
                                                                  "optimizer.schedule=constant"])
        #expect(loaded.model.hidden == RunConfig().model.hidden && loaded.model.head == nil && loaded.model.classes == nil)
        #expect(loaded.optimizer.beta1 == RunConfig().optimizer.beta1 && loaded.optimizer.stepSize == RunConfig().optimizer.stepSize)
        let back = try ConfigLoader.load(path: try files.write(ConfigLoader.yaml(loaded)), ofRunDirectory: true)
        #expect(back == loaded && back.jobID == loaded.jobID)
    }

    /// RMSprop without a momentum takes none, as PyTorch's does; momentum and Nesterov take 0.9.
    @Test func rmspropHasNoMomentumUnlessGiven() {
        #expect(OptimizerSettings(kind: .rmsprop).momentum == 0 && OptimizerSettings(kind: .rmsprop, momentum: 0.5).momentum == 0.5)
        #expect(OptimizerSettings(kind: .momentum).momentum == 0.9 && OptimizerSettings(kind: .nesterov).momentum == 0.9)
    }

    /// Checkpoints record the job id and a resumed run must match it: ids that earlier versions wrote stay the same,
    /// for the defaults and for an RMSprop run whose config.yaml wrote momentum 0.9 out (values from those versions).
    /// Such a config.yaml holds keys its kinds do not read, and loads as a run directory's.
    @Test func jobIDsOfEarlierRunsStayAndTheirConfigsLoad() throws {
        #expect(RunConfig().jobID == 4_027_733_041_488_913_193)
        let earlierRMSprop = try files.write("optimizer:\n  kind: rmsprop\n  momentum: 0.9\n  beta1: 0.9\n  gamma: 0.1\ndata:\n  header: false\n")
        #expect(files.error { _ = try ConfigLoader.load(path: earlierRMSprop) }?.key == "data.header")
        let resumed = try ConfigLoader.load(path: earlierRMSprop, ofRunDirectory: true)
        #expect(resumed.optimizer.momentum == 0.9 && resumed.jobID == 12_070_717_866_697_311_683)
    }
}
