import Foundation
import Glibc

/// The checkpoints of one run, in `<run>/checkpoints/`: `step-<n>.safetensors` files and a `latest` file naming
/// the newest. Every file is written atomically (a temporary file in the same folder, fsync, rename, fsync of the
/// folder), and `latest` only after the checkpoint it names, so a crash at any moment leaves a loadable latest.
public struct CheckpointStore: Sendable {
    public let directory: URL
    /// How many checkpoints to keep; older ones are deleted after a newer one is safely written.
    public let keep: Int

    public init(run: URL, keep: Int) {
        directory = run.appendingPathComponent("checkpoints")
        self.keep = max(1, keep)
    }

    /// Writes `bytes` as the checkpoint of `step` and points `latest` at it.
    public func save(_ bytes: [UInt8], step: Int) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = String(format: "step-%09d.safetensors", step)
        try Self.writeAtomically(bytes, to: directory.appendingPathComponent(name))
        try Self.writeAtomically(Array((name + "\n").utf8), to: directory.appendingPathComponent("latest"))
        let old = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted().dropLast(keep)
        for file in old { try? FileManager.default.removeItem(at: directory.appendingPathComponent(file)) }
    }

    /// The bytes of the checkpoint `latest` names, and its path; nil when the run has none.
    public func loadLatest() throws -> (bytes: [UInt8], path: String)? {
        let pointer = directory.appendingPathComponent("latest")
        guard let data = FileManager.default.contents(atPath: pointer.path) else { return nil }
        let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let file = directory.appendingPathComponent(name)
        guard !name.isEmpty, !name.contains("/"), let bytes = FileManager.default.contents(atPath: file.path) else {
            throw CheckpointError(path: pointer.path, message: "names '\(name)', which cannot be read",
                                  hint: "the checkpoints folder was changed by hand; point latest at an existing step-*.safetensors")
        }
        return (Array(bytes), file.path)
    }

    /// Temporary file beside the target, fsync, rename over the target, fsync the folder.
    static func writeAtomically(_ bytes: [UInt8], to url: URL) throws {
        let folder = url.deletingLastPathComponent().path
        let temporary = "\(folder)/.\(url.lastPathComponent).\(getpid()).tmp"
        func fail(_ what: String) -> CheckpointError {
            CheckpointError(path: url.path, message: "\(what): \(String(cString: strerror(errno)))", hint: "is the disk full or read-only?")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("cannot create \(temporary)") }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let failure = ok ? nil : fail("cannot write")
        close(fd)
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, url.path) == 0 else {
            let failure = fail("cannot rename \(temporary)")
            unlink(temporary)
            throw failure
        }
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }
}
