import ArgumentParser
import Config
import Data
import Foundation

/// The options every command that runs a config shares: the file and `section.key=value` overrides.
struct ConfigArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("YAML config file (see configs/).", valueName: "file"))
    var config: String?

    @Argument(help: ArgumentHelp("Overrides of config keys, e.g. optimizer.lr=0.01 model.hidden=[256,128].", valueName: "section.key=value"))
    var overrides: [String] = []

    /// The config file with the overrides, and then `extra`, applied; validated.
    func load(extra: [String] = []) throws -> RunConfig {
        try ConfigLoader.load(path: config, overrides: overrides + extra)
    }

    /// Refuses an override of `key` on the command line other than `value`, which a flag (`flag`, as said in the
    /// message) sets and which would win in silence.
    func refuseOverride(of key: String, otherThan value: Int?, decidedBy flag: String) throws {
        guard let value else { return }
        for override in overrides where ConfigLoader.overrideKey(override) == key {
            let given = override.split(separator: "=", maxSplits: 1).dropFirst().first?.trimmingCharacters(in: .whitespaces)
            guard given.flatMap({ Int($0) }) != value else { continue }
            throw ValidationError("\(override) disagrees with \(flag), which decides \(key): drop one")
        }
    }

    /// Refuses any override of `key` on the command line: the command sets it from `flag` for each of its runs.
    func refuseOverride(of key: String, setPerRunBy flag: String) throws {
        guard let override = overrides.first(where: { ConfigLoader.overrideKey($0) == key }) else { return }
        throw ValidationError("\(override): \(key) is set for each run from \(flag); give \(flag) instead")
    }

    /// `error`, with a hint to run from where a data file it could not find is when that is beside the config file
    /// or above it: configs name their data relative to the directory they are run from, often a project's root.
    func locatingData(_ error: Error) -> Error {
        guard let config, let missing = error as? DataError else { return error }
        return missing.locatingMissingFile(near: URL(fileURLWithPath: config).deletingLastPathComponent().path)
    }
}

/// `--run-dir`, shared by the commands that write a run.
struct RunDirectoryArgument: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Where to write the run (default: runs/<date>-<time> in UTC, or with -2, -3... when runs start within the same second). An existing run is never overwritten.", valueName: "dir"))
    var runDir: String?
}
