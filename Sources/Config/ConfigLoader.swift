import Data
import Foundation
import Optimizers
import Yams

/// Reads a YAML config, applies `key.sub=value` overrides, rejects unknown keys, fills defaults, and validates.
public enum ConfigLoader {
    /// Loads `path` (nil: defaults only) with `overrides` such as `optimizer.lr=0.01` applied on top, and refuses a
    /// key that the config's kinds leave unread (`RunConfig.unusedKey`), or drops it when an override changed the
    /// kind that read it (`unusedKeysLetBe`). `ofRunDirectory`: `path` is a run
    /// directory's `config.yaml`, which pstrain wrote; those of runs before unread keys were left out hold them all,
    /// so there they are ignored, and such a run resumes.
    public static func load(path: String?, overrides: [String] = [], ofRunDirectory: Bool = false) throws(ConfigError) -> RunConfig {
        var tree: [String: Any] = [:]
        var text = ""
        if let path {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                let configs = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                throw ConfigError(source: path, message: "is a directory, not a config file",
                                  hint: configs.isEmpty ? "give a YAML config file; the examples are in configs/"
                                      : "give one of its configs: \(nameList(configs.sorted().map { (path.hasSuffix("/") ? path : path + "/") + $0 }))")
            }
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(source: path, message: "cannot read the config file",
                                  hint: FileManager.default.fileExists(atPath: path) ? "check its permissions and encoding (UTF-8)" : "no such file; the examples are in configs/")
            }
            text = contents
            do {
                let loaded = try Yams.load(yaml: contents)
                if let loaded, let mapping = loaded as? [String: Any] {
                    tree = mapping
                } else if loaded != nil {
                    throw ConfigError(source: path, message: "the top level must be a mapping with sections data, model, optimizer, train, cluster")
                }
            } catch let error as ConfigError {
                throw error
            } catch let error as YamlError {
                throw ConfigError(source: path, message: "not valid YAML: \(describe(error))", hint: tabIndentHint(contents))
            } catch {
                throw ConfigError(source: path, message: "not valid YAML: \(error)")
            }
        }
        try checkKeys(tree, source: path ?? "", text: text)
        for override in overrides { try apply(override, to: &tree) }
        do throws(ConfigError) {
            var config = try decode(tree)
            if !ofRunDirectory {
                let letBe = try unusedKeysLetBe(given: tree, overrides: overrides, in: config)
                if !letBe.isEmpty {
                    for (section, key) in letBe { tree[section] = (tree[section] as? [String: Any])?.filter { $0.key != key } }
                    config = try decode(tree)
                }
            }
            try config.validate()
            return config
        } catch {
            throw placed(error, path: path, text: text, overrides: overrides)
        }
    }

    /// `error` with where its key's value was given: the command line when an override set it, else the config
    /// file's line that did, else the file.
    static func placed(_ error: ConfigError, path: String?, text: String, overrides: [String]) -> ConfigError {
        guard error.source.isEmpty else { return error }
        var placed = error
        if let key = error.key, overrides.contains(where: { overrideKey($0) == key }) {
            placed.source = "command line"
        } else if let path {
            let parts = (error.key ?? "").split(separator: ".").map(String.init)
            placed.source = parts.count == 2 ? located(path, parts[1], inSection: parts[0], of: text) : path
        }
        return placed
    }

    /// The dotted key an override such as `optimizer.lr=0.01` sets.
    public static func overrideKey(_ override: String) -> String? {
        override.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// Whether the file at `path` or an override sets `section.key` itself (rather than leaving the default).
    public static func setsKey(_ dotted: String, path: String?, overrides: [String]) -> Bool {
        if overrides.contains(where: { overrideKey($0) == dotted }) {
            return true
        }
        let parts = dotted.split(separator: ".").map(String.init)
        guard parts.count == 2, let path, let text = try? String(contentsOfFile: path, encoding: .utf8),
              let tree = (try? Yams.load(yaml: text)) as? [String: Any], let section = tree[parts[0]] as? [String: Any] else { return false }
        return section[parts[1]] != nil
    }

    /// The keys with a value (null leaves a key out) in `tree`, the file's keys and the overrides, that `config`
    /// does not read (`RunConfig.unusedKey`) but are let be: a file's key whose kind an override changed, as
    /// `model.kind=softmax` on an MLP's config trains a softmax, its hidden layers aside. `load` drops them, so that
    /// the config holds what its `config.yaml`, which leaves them out, loads back to, and has the same job id.
    /// Any other unread key is an error.
    static func unusedKeysLetBe(given tree: [String: Any], overrides: [String], in config: RunConfig) throws(ConfigError) -> [(section: String, key: String)] {
        let overridden = Set(overrides.compactMap(overrideKey))
        var letBe: [(section: String, key: String)] = []
        for (section, keys) in tree.sorted(by: { $0.key < $1.key }) {
            for (key, value) in (keys as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) where !(value is NSNull) {
                guard let unused = config.unusedKey(section, key) else { continue }
                let fromFile = !overridden.contains("\(section).\(key)")
                guard !(fromFile && overridden.contains(unused.decidedBy)) else {
                    letBe.append((section, key))
                    continue
                }
                throw ConfigError(key: "\(section).\(key)", message: unused.message,
                                  hint: (unused.hint.map { $0 + "; else " } ?? "") + "leave \(key) out")
            }
        }
        return letBe
    }

    /// The resolved config as YAML, for the run directory: every key it reads, defaults written out (momentum as
    /// the optimizer uses it), and none that its kinds leave unread, so `load` takes it back.
    public static func yaml(_ config: RunConfig) -> String {
        var resolved = config
        if config.unusedKey("optimizer", "momentum") == nil {
            resolved.optimizer.momentum = OptimizerSettings.momentum(config.optimizer.momentum, of: config.optimizer.kind)
        }
        let every = everyKeyYAML(resolved)
        guard let node = try? Yams.compose(yaml: every), let sections = node.mapping else { return every }
        let read = sections.map { name, section -> (Node, Node) in
            guard let keys = section.mapping, let sectionName = name.string else { return (name, section) }
            return (name, .mapping(Node.Mapping(keys.filter { config.unusedKey(sectionName, $0.key.string ?? "") == nil }.map { ($0.key, $0.value) })))
        }
        // The emitter ends a composed document's last plain scalar without a line break.
        return (try? Yams.serialize(node: .mapping(Node.Mapping(read)))).map { $0.hasSuffix("\n") ? $0 : $0 + "\n" } ?? every
    }

    /// The config as YAML with every key of every section, read or not: the defaults `decode` merges a file over,
    /// and the text of the job id.
    static func everyKeyYAML(_ config: RunConfig) -> String {
        (try? YAMLEncoder().encode(config)) ?? ""
    }

    /// For YAML that does not parse: the first line indented with a tab, which YAML does not allow, if any.
    static func tabIndentHint(_ text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let index = lines.firstIndex(where: { $0.prefix { $0 == " " || $0 == "\t" }.contains("\t") }) else { return nil }
        return "line \(index + 1) is indented with a tab: YAML indents with spaces"
    }

    /// Where `name`, not a key of the section it was given in (or given as a section), is a key: a hint to move it
    /// there (`overriding`: to name it so on the command line), or nothing.
    static func otherSectionsHint(for name: String, notIn section: String? = nil, overriding: Bool = false) -> String? {
        let owners = RunConfig.sections.filter { $0.key != section && $0.value.contains(name) }.map(\.key).sorted()
        guard !owners.isEmpty else { return nil }
        if overriding { return "did you mean \(owners.map { "\($0).\(name)" }.joined(separator: " or "))?" }
        let under = owners.count == 1 ? owners[0] : "one of them"
        return "\(name) is a key of \(owners.joined(separator: " and ")): \(section == nil ? "indent it" : "move it") under \(under)"
    }

    static func describe(_ error: YamlError) -> String {
        "\(error)".replacingOccurrences(of: "\n", with: " ")
    }

    /// Sets one `section.key=value` override; the value is read as YAML, so `[64, 32]` is a list and `1e-3` a number.
    static func apply(_ override: String, to tree: inout [String: Any]) throws(ConfigError) {
        guard let equals = override.firstIndex(of: "=") else {
            throw ConfigError(source: "command line", message: "'\(override)' is not key=value", hint: "write overrides as section.key=value, e.g. optimizer.lr=0.01")
        }
        let key = String(override[..<equals]).trimmingCharacters(in: .whitespaces)
        let valueText = String(override[override.index(after: equals)...])
        let parts = key.split(separator: ".").map(String.init)
        guard parts.count == 2 else {
            throw ConfigError(source: "command line", key: key, message: "an override names a section and a key",
                              hint: (parts.count == 1 ? otherSectionsHint(for: key, overriding: true) : nil) ?? "e.g. train.epochs=5 or model.hidden=[256,128]")
        }
        try checkKey(section: parts[0], key: parts[1], source: "command line", text: "")
        let value: Any
        do { value = try Yams.load(yaml: valueText) ?? NSNull() } catch {
            throw ConfigError(source: "command line", key: key, message: "value '\(valueText)' is not valid YAML")
        }
        var section = tree[parts[0]] as? [String: Any] ?? [:]
        section[parts[1]] = value
        tree[parts[0]] = section
    }

    static func checkKeys(_ tree: [String: Any], source: String, text: String) throws(ConfigError) {
        for (name, value) in tree {
            guard RunConfig.sections[name] != nil else {
                throw ConfigError(source: located(source, name, of: text), key: name, message: "unknown section",
                                  hint: otherSectionsHint(for: name)
                                      ?? suggestion(for: name, among: Array(RunConfig.sections.keys)) + "sections are data, model, optimizer, train, cluster")
            }
            guard let mapping = value as? [String: Any] else {
                if value is NSNull { continue }
                throw ConfigError(source: located(source, name, of: text), key: name, message: "expected a mapping of keys")
            }
            for key in mapping.keys { try checkKey(section: name, key: key, source: source, text: text) }
        }
    }

    static func checkKey(section: String, key: String, source: String, text: String) throws(ConfigError) {
        guard let keys = RunConfig.sections[section] else {
            throw ConfigError(source: source, key: "\(section).\(key)", message: "unknown section '\(section)'",
                              hint: otherSectionsHint(for: key, overriding: true)
                                  ?? suggestion(for: section, among: Array(RunConfig.sections.keys)) + "sections are data, model, optimizer, train, cluster")
        }
        guard keys.contains(key) else {
            throw ConfigError(source: located(source, key, inSection: section, of: text), key: "\(section).\(key)", message: "unknown key",
                              hint: otherSectionsHint(for: key, notIn: section, overriding: source == "command line")
                                  ?? suggestion(for: key, among: keys) + "\(section) accepts: \(keys.sorted().joined(separator: ", "))")
        }
    }

    /// "file, line N" for the line that defines `key`: a top-level one, or with `section`, the first one indented
    /// under that section's line, else the section's line (its keys written inline, or this one missing); the file
    /// alone when the text is not at hand or has neither.
    static func located(_ source: String, _ key: String, inSection section: String? = nil, of text: String) -> String {
        guard !text.isEmpty else { return source }
        func defines(_ line: Substring, _ name: String) -> Bool { line.hasPrefix("\(name):") || line.hasPrefix("\(name) :") }
        var sectionLine: Int?
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let indented = line.first == " " || line.first == "\t"
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let section else {
                if !indented && defines(trimmed, key) { return "\(source), line \(i + 1)" }
                continue
            }
            if !indented {
                if sectionLine != nil { break }
                if defines(trimmed, section) { sectionLine = i + 1 }
            } else if sectionLine != nil && defines(trimmed, key) {
                return "\(source), line \(i + 1)"
            }
        }
        return sectionLine.map { "\(source), line \($0)" } ?? source
    }

    /// "did you mean 'x'? " for a key that shares a prefix with, or is a small edit away from, the one given.
    static func suggestion(for key: String, among keys: [String]) -> String {
        if let prefixed = keys.filter({ key.hasPrefix($0) || $0.hasPrefix(key) }).max(by: { $0.count < $1.count }) {
            return "did you mean '\(prefixed)'? "
        }
        let best = keys.min { editDistance(key, $0) < editDistance(key, $1) }
        guard let best, editDistance(key, best) <= max(2, key.count / 3) else { return "" }
        return "did you mean '\(best)'? "
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0 ... b.count)
        for i in 1 ... max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1 ... max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }

    /// The defaults as a tree of sections: every key that has a value unless given.
    static func defaultTree() -> [String: Any] {
        (try? Yams.load(yaml: everyKeyYAML(RunConfig()))) as? [String: Any] ?? [:]
    }

    /// Merges the tree over the defaults and decodes it, translating decoding errors into the key they concern.
    static func decode(_ tree: [String: Any]) throws(ConfigError) -> RunConfig {
        var merged = defaultTree()
        for (name, value) in tree {
            guard let mapping = value as? [String: Any] else { continue }
            var section = merged[name] as? [String: Any] ?? [:]
            for (key, v) in mapping { section[key] = v }
            merged[name] = section.filter { !($0.value is NSNull) }
        }
        do {
            let text = try Yams.dump(object: merged)
            return try YAMLDecoder().decode(RunConfig.self, from: text)
        } catch let error as DecodingError {
            throw translate(error, tree: tree)
        } catch {
            throw ConfigError(message: "cannot read the config: \(error)")
        }
    }

    static func translate(_ error: DecodingError, tree: [String: Any]) -> ConfigError {
        let path: [CodingKey]
        switch error {
        case .keyNotFound(let missing, let c):
            // The defaults hold every key that must have a value, so only a null given for one leaves it out.
            let key = (c.codingPath + [missing]).map(\.stringValue).joined(separator: ".")
            let value = c.codingPath.first.flatMap { (defaultTree()[$0.stringValue] as? [String: Any])?[missing.stringValue] }
            return ConfigError(key: key, message: "cannot be null: it always has a value",
                               hint: "leave \(missing.stringValue) out for its default" + (value.map { ", \($0)" } ?? ""))
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        @unknown default: path = []
        }
        let key = path.map(\.stringValue).filter { Int($0) == nil }.joined(separator: ".")
        let parts = key.split(separator: ".").map(String.init)
        let given = parts.count == 2 ? (tree[parts[0]] as? [String: Any])?[parts[1]] : nil
        let found = given.map { " found '\($0)'" } ?? ""
        if let options = RunConfig.choices[key] {
            return ConfigError(key: key, message: "\(found.isEmpty ? "invalid value" : String(found.dropFirst()))", hint: "choose one of: \(options.joined(separator: ", "))")
        }
        if key == "model.hidden", let given, !(given is [Any]) {
            return ConfigError(key: key, message: "expected a list of layer widths, found '\(given)'",
                               hint: "[\(given)] is one hidden layer of \(given) units, [256, 128] two layers")
        }
        let expected: String
        switch error {
        case .typeMismatch(let type, _), .valueNotFound(let type, _): expected = "expected \(describe(type))"
        default: expected = "invalid value"
        }
        return ConfigError(key: key, message: expected + (found.isEmpty ? "" : ",\(found)"))
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: "a whole number"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "text"
        case is [Int].Type: "a list of whole numbers, e.g. [256, 128]"
        case is CSVColumn.Type: "a column's position (from 0; -1 is the last) or its name in the header line"
        default: "a value of type \(type)"
        }
    }
}
