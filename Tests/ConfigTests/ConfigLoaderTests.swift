import Config
import Foundation
import Testing

@Suite struct ConfigLoaderTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func error(_ body: () throws -> Void) -> ConfigError? {
        do { try body() } catch { return error as? ConfigError }
        return nil
    }

    @Test func fileValuesOverridesAndDefaults() throws {
        let path = try write("""
            data:
              format: csv
              train: digits/train.csv
              scale: standard
            model:
              kind: mlp
              hidden: [64, 32]
            optimizer:
              kind: sgd
              lr: 0.5
            """)
        let config = try ConfigLoader.load(path: path, overrides: ["optimizer.lr=0.05", "model.hidden=[16]", "train.epochs=3", "model.init=he_normal"])
        #expect(config.data.format == .csv && config.data.train == "digits/train.csv" && config.data.scale == .standard)
        #expect(config.optimizer.lr == 0.05 && config.optimizer.kind == .sgd)
        #expect(config.model.hidden == [16] && config.model.initializer == .heNormal)
        #expect(config.train.epochs == 3)
        #expect(config.train.batchSize == TrainConfig().batchSize, "unset keys keep their defaults")
    }

    /// What `launch ssh` looks for on every host: each file the data names, labels after their features; none
    /// for synthetic data, even with paths left in the config.
    @Test func theDataFilesAreEveryPathTheFormatReads() throws {
        let idx = try ConfigLoader.load(path: write("""
            data:
              format: idx
              train: a/train-images
              train_labels: a/train-labels
              test: a/test-images
              test_labels: a/test-labels
            """))
        #expect(idx.data.files == ["a/train-images", "a/train-labels", "a/test-images", "a/test-labels"])
        let csv = try ConfigLoader.load(path: write("data:\n  format: csv\n  train: train.csv\n"))
        #expect(csv.data.files == ["train.csv"])
        var synthetic = csv
        synthetic.data.format = .synthetic
        #expect(synthetic.data.files.isEmpty)
    }

    @Test func resolvedYAMLRoundTrips() throws {
        var config = RunConfig()
        config.optimizer.clipNorm = 1.5
        config.model.classes = 10
        let path = try write(ConfigLoader.yaml(config))
        #expect(try ConfigLoader.load(path: path) == config)
    }

    /// `data.label_column` takes a position (a whole number) or a header's column name (anything else), and
    /// round-trips through the run directory's YAML as it was given; a position's YAML, so the job id, is as before.
    @Test func aLabelColumnIsAPositionOrAName() throws {
        let csv = ["data.format=csv", "data.train=t.csv"]
        #expect(try ConfigLoader.load(path: nil, overrides: csv + ["data.label_column=-1"]).data.labelColumn == .position(-1))
        let named = try ConfigLoader.load(path: try write("data:\n  format: csv\n  train: t.csv\n  label_column: species\n"))
        #expect(named.data.labelColumn == .name("species"))
        #expect(try ConfigLoader.load(path: try write(ConfigLoader.yaml(named))) == named)
        #expect(ConfigLoader.yaml(try ConfigLoader.load(path: nil, overrides: csv)).contains("label_column: 0\n"))
        let list = try #require(error { _ = try ConfigLoader.load(path: nil, overrides: csv + ["data.label_column=[1, 2]"]) })
        #expect(list.key == "data.label_column" && list.message.hasPrefix("expected a column's position (from 0; -1 is the last) or its name"),
                "\(list)")
    }

    /// `data.delimiter` takes one character, tab or whitespace, and refuses what could be part of a number; left out,
    /// it is a comma and writes no line, so the job id of a config without it is what it was before the key existed.
    @Test func aDelimiterIsACharacterTabOrWhitespace() throws {
        let csv = ["data.format=csv", "data.train=t.csv"]
        #expect(try ConfigLoader.load(path: nil, overrides: csv + ["data.delimiter=tab"]).data.csvDelimiter == .character(9))
        #expect(try ConfigLoader.load(path: try write("data:\n  format: csv\n  train: t.csv\n  delimiter: \"\\t\"\n")).data.csvDelimiter == .character(9))
        #expect(try ConfigLoader.load(path: nil, overrides: csv + ["data.delimiter=';'"]).data.csvDelimiter == .character(UInt8(ascii: ";")))
        #expect(try ConfigLoader.load(path: nil, overrides: csv + ["data.delimiter=whitespace"]).data.csvDelimiter == .blanks)
        #expect(try ConfigLoader.load(path: nil, overrides: csv).data.csvDelimiter == .comma)
        for bad in ["ab", "'.'", "e", "'-'", "'\"'"] {
            let refused = error { _ = try ConfigLoader.load(path: nil, overrides: csv + ["data.delimiter=\(bad)"]) }
            #expect(refused?.key == "data.delimiter" && refused?.message.hasSuffix("cannot separate columns of numbers") == true, "\(bad)")
        }
        #expect(!ConfigLoader.yaml(RunConfig()).contains("delimiter"))
    }

    /// `data.test_fraction` holds out part of a training file: a fraction in (0, 1), for a file format and without
    /// a test file; left out, it writes no line.
    @Test func aTestFractionHoldsOutPartOfATrainingFile() throws {
        let csv = ["data.format=csv", "data.train=t.csv"]
        #expect(try ConfigLoader.load(path: nil, overrides: csv + ["data.test_fraction=0.2"]).data.testFraction == 0.2)
        for (overrides, message) in [(csv + ["data.test_fraction=1"], "must be in (0, 1), got 1.0"),
                                     (csv + ["data.test_fraction=0.2", "data.test=u.csv"], "the test set is data.test's file already"),
                                     (["data.test_fraction=0.2"], "synthetic data makes a test set of its own")] {
            let refused = error { _ = try ConfigLoader.load(path: nil, overrides: overrides) }
            #expect(refused?.key == "data.test_fraction" && refused?.message == message, "\(String(describing: refused))")
        }
        #expect(!ConfigLoader.yaml(RunConfig()).contains("test_fraction"))
    }

    @Test func unknownKeysNameTheLineAndSuggest() throws {
        let path = try write("optimizer:\n  kind: adam\n  lrate: 0.1\n")
        let e = try #require(error { _ = try ConfigLoader.load(path: path) })
        #expect(e.source == "\(path), line 3")
        #expect(e.key == "optimizer.lrate" && e.message == "unknown key")
        #expect(e.hint?.hasPrefix("did you mean 'lr'?") == true)
        let section = try write("optimiser:\n  lr: 0.1\n")
        #expect(error { _ = try ConfigLoader.load(path: section) }?.hint?.hasPrefix("did you mean 'optimizer'?") == true)
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["train.epoch=3"]) }?.hint?.hasPrefix("did you mean 'epochs'?") == true)
    }

    /// A key given in the wrong section, or at the top level, or without its section on the command line, is told
    /// where it belongs.
    @Test func aKeyOfAnotherSectionIsToldWhereItBelongs() throws {
        let moved = try #require(error { _ = try ConfigLoader.load(path: try write("train:\n  epochs: 2\n  lr: 0.1\n")) })
        #expect(moved.source.hasSuffix(", line 3") && moved.key == "train.lr" && moved.hint == "lr is a key of optimizer: move it under optimizer")
        let unindented = try #require(error { _ = try ConfigLoader.load(path: try write("optimizer:\nlr: 0.1\n")) })
        #expect(unindented.source.hasSuffix(", line 2") && unindented.hint == "lr is a key of optimizer: indent it under optimizer")
        let both = try write("kind: sgd\n")
        #expect(error { _ = try ConfigLoader.load(path: both) }?.hint == "kind is a key of model and optimizer: indent it under one of them")
        let overrides: [(String, String)] = [("train.kind=sgd", "did you mean model.kind or optimizer.kind?"), ("model.epochs=3", "did you mean train.epochs?"),
                                             ("trian.epochs=3", "did you mean train.epochs?"), ("lr=0.1", "did you mean optimizer.lr?")]
        for (override, hint) in overrides {
            let e = error { _ = try ConfigLoader.load(path: nil, overrides: [override]) }
            #expect(e?.source == "command line" && e?.hint == hint, "\(override): \(String(describing: e))")
        }
    }

    @Test func badValuesNameTheKey() throws {
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["optimizer.lr=-0.1"]) }?.description
                == "command line: optimizer.lr: must be a positive number, got -0.1\n  hint: typical values: 0.1 for SGD, 0.001 for Adam")
        let text = error { _ = try ConfigLoader.load(path: nil, overrides: ["optimizer.lr=fast"]) }
        #expect(text?.key == "optimizer.lr" && text?.message == "expected a number, found 'fast'")
        let choice = error { _ = try ConfigLoader.load(path: nil, overrides: ["optimizer.kind=adamax"]) }
        #expect(choice?.key == "optimizer.kind" && choice?.hint?.contains("adamw") == true)
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["train.batch_size=0"]) }?.key == "train.batch_size")
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["data.format=csv"]) }?.key == "data.train")
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["model.hidden=[]"]) }?.key == "model.hidden")
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["epochs"]) }?.message == "'epochs' is not key=value")
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["model.dropout=1"]) }?.key == "model.dropout")
        // Once "expected a value of type Sequence".
        let width = error { _ = try ConfigLoader.load(path: nil, overrides: ["model.hidden=256"]) }
        #expect(width?.message == "expected a list of layer widths, found '256'"
                && width?.hint == "[256] is one hidden layer of 256 units, [256, 128] two layers", "\(String(describing: width))")
        let inFile = try #require(error { _ = try ConfigLoader.load(path: try write("model:\n  kind: mlp\n  hidden: 64\n")) })
        #expect(inFile.source.hasSuffix(", line 3") && inFile.key == "model.hidden" && inFile.hint?.hasPrefix("[64] is one hidden layer") == true)
    }

    /// Null leaves out a key that may be absent (`optimizer.clip_norm=null`: no clipping); a key that always has a
    /// value is named, with its default, where the null was given. It was once "optimizer: invalid value".
    @Test func nullForAKeyThatAlwaysHasAValueNamesIt() throws {
        let beta1 = error { _ = try ConfigLoader.load(path: nil, overrides: ["optimizer.beta1=null"]) }
        #expect(beta1?.description == "command line: optimizer.beta1: cannot be null: it always has a value\n  hint: leave beta1 out for its default, 0.9",
                "\(String(describing: beta1))")
        let path = try write("data:\n  format: synthetic\n  generator: null\n")
        let generator = try #require(error { _ = try ConfigLoader.load(path: path) })
        #expect(generator.source == "\(path), line 3" && generator.key == "data.generator" && generator.hint == "leave generator out for its default, blobs")
        #expect(try ConfigLoader.load(path: nil, overrides: ["optimizer.clip_norm=null"]).optimizer.clipNorm == nil)
    }

    /// A bad value names the line that gave it, in its own section (`kind` is in two), or the command line when an
    /// override gave it; a missing key, the line of its section.
    @Test func badValuesNameTheLineOrTheOverrideThatGaveThem() throws {
        let path = try write("""
            data:
              format: csv
              train: digits/train.csv
            model:
              kind: softmax   # a comment
            optimizer:
              # the optimizer
              kind: adamax
              lr: 0.1
            """)
        let kind = try #require(error { _ = try ConfigLoader.load(path: path) })
        #expect(kind.source == "\(path), line 8" && kind.key == "optimizer.kind")
        let lr = try #require(error { _ = try ConfigLoader.load(path: path, overrides: ["optimizer.kind=sgd", "optimizer.lr=0"]) })
        #expect(lr.source == "command line" && lr.key == "optimizer.lr")
        let negative = try #require(error { _ = try ConfigLoader.load(path: try write("optimizer:\n  lr: -1\n")) })
        #expect(negative.description.hasPrefix("\(negative.source): optimizer.lr: must be a positive number"))
        #expect(negative.source.hasSuffix(", line 2"))
        let missing = try #require(error { _ = try ConfigLoader.load(path: try write("train:\n  epochs: 2\ndata:\n  format: csv\n")) })
        #expect(missing.source.hasSuffix(", line 3") && missing.key == "data.train")
        let inline = try #require(error { _ = try ConfigLoader.load(path: try write("model: {kind: mlp, hidden: []}\n")) })
        #expect(inline.source.hasSuffix(", line 1") && inline.key == "model.hidden")
    }

    /// A worker's step limit: checked, and not part of the job id, which stays what it was before the key existed
    /// (checkpoints record it).
    @Test func stepTimeoutIsAWorkersOwnAndLeavesTheJobIDAsItWas() throws {
        #expect(error { _ = try ConfigLoader.load(path: nil, overrides: ["cluster.step_timeout=-1"]) }?.key == "cluster.step_timeout")
        let unlimited = try ConfigLoader.load(path: nil, overrides: ["cluster.step_timeout=0"])
        #expect(unlimited.cluster.stepTimeout == 0 && RunConfig().cluster.stepTimeout == 600)
        #expect(unlimited.jobID == RunConfig().jobID)
        let withoutTheKey = ConfigLoader.yaml(RunConfig()).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("step_timeout") }.joined(separator: "\n")
        #expect(withoutTheKey != ConfigLoader.yaml(RunConfig()))
        #expect(try ConfigLoader.load(path: try write(withoutTheKey)).jobID == RunConfig().jobID)
    }

    @Test func unreadableAndInvalidFiles() throws {
        #expect(error { _ = try ConfigLoader.load(path: "/nonexistent.yaml") }?.hint == "no such file; the examples are in configs/")
        // A directory was "cannot read the config file", with a hint about permissions and encoding.
        let directory = URL(fileURLWithPath: try write("")).deletingLastPathComponent().appendingPathComponent("configs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "train:\n  epochs: 1\n".write(toFile: directory + "/b.yaml", atomically: true, encoding: .utf8)
        try "train:\n  epochs: 1\n".write(toFile: directory + "/a.yml", atomically: true, encoding: .utf8)
        let folder = error { _ = try ConfigLoader.load(path: directory) }
        #expect(folder?.message == "is a directory, not a config file" && folder?.hint == "give one of its configs: \(directory)/a.yml, \(directory)/b.yaml",
                "\(String(describing: folder))")
        let broken = try write("model: [unclosed\n")
        #expect(error { _ = try ConfigLoader.load(path: broken) }?.message.hasPrefix("not valid YAML") == true)
        let tab = try #require(error { _ = try ConfigLoader.load(path: try write("data:\n  format: csv\nmodel:\n\tkind: mlp\n")) })
        #expect(tab.message.hasPrefix("not valid YAML") && tab.hint == "line 4 is indented with a tab: YAML indents with spaces", "\(tab)")
        let scalar = try write("just text\n")
        #expect(error { _ = try ConfigLoader.load(path: scalar) }?.message.hasPrefix("the top level must be a mapping") == true)
    }
}
