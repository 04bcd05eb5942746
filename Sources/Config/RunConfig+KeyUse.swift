import Models
import Optimizers

/// Why a config key does nothing: the key that chose a kind which does not read it, and what to say about it.
struct UnusedKey {
    /// The dotted key whose value leaves this one unread, such as "optimizer.kind".
    var decidedBy: String
    var message: String
    var hint: String?
}

/// Which keys the chosen kinds read. A key that nothing reads, given anyway, is most likely a mistake that would
/// otherwise pass in silence (`momentum` with `kind: sgd`, a training file with synthetic data): `ConfigLoader`
/// refuses it, and the run directory's `config.yaml` leaves it out.
extension RunConfig {
    /// Why `section.key` does nothing in this config; nil when the config reads it. Only the data, model and
    /// optimizer sections have keys that a kind decides on; a `cluster` key such as `staleness` stays, as a sweep
    /// runs one config in every mode.
    func unusedKey(_ section: String, _ key: String) -> UnusedKey? {
        switch section {
        case "data": data.unusedKey(key)
        case "model": model.unusedKey(key)
        case "optimizer": optimizer.unusedKey(key)
        default: nil
        }
    }
}

extension DataConfig {
    func unusedKey(_ key: String) -> UnusedKey? {
        func unused(_ message: String, _ hint: String? = nil) -> UnusedKey {
            UnusedKey(decidedBy: "data.format", message: "data.format \(format.rawValue) \(message)", hint: hint)
        }
        if format == .synthetic && ["train", "test", "train_labels", "test_labels"].contains(key) {
            return unused("reads no file: it generates its samples", "set data.format to the file's format: \(Self.formatGuess(train ?? test))")
        }
        switch key {
        case "train_labels", "test_labels":
            guard format != .idx && format != .npy else { return nil }
            return unused("holds the labels in the features' file", "only idx and npy keep labels in a file of their own")
        case "header", "label_column", "delimiter":
            guard format != .csv else { return nil }
            return unused("has no columns to name", "only a CSV file has a header, a label column and a delimiter")
        case "features":
            guard format != .synthetic && format != .libsvm else { return nil }
            return unused("reads the number of features from its files", "only synthetic data and LIBSVM files take data.features")
        case "seed":
            guard format != .synthetic && testFraction == nil else { return nil }
            return unused("draws nothing at random without data.test_fraction",
                          "data.seed seeds synthetic data and the rows data.test_fraction holds out; "
                              + "train.seed seeds the initial weights, the shuffle and dropout")
        case "generator", "samples", "test_samples", "classes", "noise":
            guard format != .synthetic else { return nil }
            return unused("reads its samples from files: only synthetic data is generated",
                          key == "classes" ? "model.classes sets the model's number of classes" : nil)
        default:
            return nil
        }
    }

    /// The format a data file's name suggests, else every format that reads files.
    static func formatGuess(_ path: String?) -> String {
        let name = (path ?? "").lowercased()
        if name.hasSuffix(".csv") || name.hasSuffix(".tsv") { return "csv" }
        if name.hasSuffix(".libsvm") || name.hasSuffix(".svm") || name.hasSuffix(".svmlight") { return "libsvm" }
        if name.hasSuffix(".npy") { return "npy" }
        if name.hasSuffix("-ubyte") || name.hasSuffix(".idx") { return "idx" }
        return "csv, libsvm, idx or npy"
    }
}

extension ModelConfig {
    func unusedKey(_ key: String) -> UnusedKey? {
        switch key {
        case "hidden", "activation", "dropout":
            guard kind != .mlp else { return nil }
            return UnusedKey(decidedBy: "model.kind", message: "model.kind \(kind.rawValue) has no hidden layers",
                             hint: "model.kind: mlp trains a network with hidden layers")
        case "head":
            guard kind != .mlp else { return nil }
            return UnusedKey(decidedBy: "model.kind", message: "model.kind \(kind.rawValue) has its own head: \(outputHead.rawValue)",
                             hint: "only an MLP takes model.head")
        case "classes":
            guard outputHead != .multiclass else { return nil }
            let decider = kind == .mlp ? "model.head \(outputHead.rawValue)" : "model.kind \(kind.rawValue)"
            return UnusedKey(decidedBy: kind == .mlp ? "model.head" : "model.kind",
                             message: outputHead == .binary ? "\(decider) has two classes, always" : "\(decider) predicts numbers, not classes",
                             hint: "model.kind: softmax, or an MLP's model.head: multiclass, takes model.classes")
        case "init_scale":
            guard initializer != .normal && initializer != .uniform else { return nil }
            return UnusedKey(decidedBy: "model.init", message: "model.init \(initializer.rawValue) takes no scale",
                             hint: "only the normal and uniform initializers take model.init_scale")
        default:
            return nil
        }
    }
}

extension OptimizerConfig {
    func unusedKey(_ key: String) -> UnusedKey? {
        func unusedByKind(_ readers: String) -> UnusedKey {
            UnusedKey(decidedBy: "optimizer.kind", message: "optimizer.kind \(kind.rawValue) does not use it", hint: "only \(readers) do")
        }
        func unusedBySchedule(_ readers: String) -> UnusedKey {
            UnusedKey(decidedBy: "optimizer.schedule", message: "optimizer.schedule \(schedule.rawValue) does not use it", hint: "only \(readers) does")
        }
        switch key {
        case "momentum" where ![.momentum, .nesterov, .rmsprop].contains(kind):
            let hint = kind == .sgd ? "kind: momentum is SGD with momentum (PyTorch's SGD with momentum=...), kind: nesterov its Nesterov form"
                : kind == .adagrad ? nil : "Adam's average of gradients decays by beta1"
            return UnusedKey(decidedBy: "optimizer.kind", message: "optimizer.kind \(kind.rawValue) has no momentum", hint: hint)
        case "beta1", "beta2":
            return kind == .adam || kind == .adamw ? nil : unusedByKind("adam and adamw")
        case "epsilon" where [.sgd, .momentum, .nesterov].contains(kind): return unusedByKind("adam, adamw, rmsprop and adagrad")
        case "rho" where kind != .rmsprop: return unusedByKind("rmsprop")
        case "initial_accumulator" where kind != .adagrad: return unusedByKind("adagrad")
        case "gamma" where schedule != .step && schedule != .exponential: return unusedBySchedule("the step or exponential schedule")
        case "step_size" where schedule != .step: return unusedBySchedule("the step schedule")
        case "decay_steps" where schedule != .exponential: return unusedBySchedule("the exponential schedule")
        case "min_lr" where schedule != .cosine: return unusedBySchedule("the cosine schedule")
        default: return nil
        }
    }
}
