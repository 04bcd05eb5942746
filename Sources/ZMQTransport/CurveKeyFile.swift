import Foundation
import Glibc
import ZeroMQ

/// A key file that cannot be used: which file, which line if one, what is wrong, and what to do.
public struct CurveKeyFileError: Error, CustomStringConvertible {
    public var path: String
    public var line: Int?
    public var message: String
    public var hint: String?
    public var description: String {
        "\(path)\(line.map { ", line \($0)" } ?? ""): \(message)" + (hint.map { "\n  hint: \($0)" } ?? "")
    }
}

/// CurveZMQ key files in the layout CZMQ and pyzmq share: `NAME.key` holds the public key, `NAME.key_secret`
/// both keys and is readable by its owner only. Both are text: comments, then
/// `metadata`, `curve`, and `public-key = "<40 Z85 characters>"` (and `secret-key = "..."`).
public enum CurveKeyFile {
    /// Writes `NAME.key` and `NAME.key_secret` into `directory` (created, owner-only, if missing); never
    /// overwrites a file. Returns the two paths.
    public static func write(_ pair: CurveKeyPair, name: String, in directory: URL, now: Date = Date()) throws(CurveKeyFileError) -> (public: URL, secret: URL) {
        let dir = directory.path
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw CurveKeyFileError(path: dir, message: "cannot create the directory: \(error.localizedDescription)")
            }
        } else if !isDirectory.boolValue {
            throw CurveKeyFileError(path: dir, message: "not a directory")
        }
        try checkAbsent(name: name, in: directory)
        let stamp = ISO8601DateFormatter().string(from: now)
        let publicURL = directory.appendingPathComponent("\(name).key"), secretURL = directory.appendingPathComponent("\(name).key_secret")
        let publicText = """
            #   ****  Generated on \(stamp) by pstrain keygen  ****
            #   ZeroMQ CURVE Public Certificate
            #   Exchange securely, or use a secure mechanism to verify the contents
            #   of this file after exchange.

            metadata
            curve
                public-key = "\(pair.publicKey.z85)"

            """
        let secretText = """
            #   ****  Generated on \(stamp) by pstrain keygen  ****
            #   ZeroMQ CURVE **Secret** Certificate
            #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

            metadata
            curve
                public-key = "\(pair.publicKey.z85)"
                secret-key = "\(pair.secretKey.z85)"

            """
        try create(secretURL.path, secretText, mode: 0o600)
        try create(publicURL.path, publicText, mode: 0o644)
        return (publicURL, secretURL)
    }

    /// Throws if either file of the pair `name` exists in `directory`.
    public static func checkAbsent(name: String, in directory: URL) throws(CurveKeyFileError) {
        for suffix in [".key", ".key_secret"] {
            let path = directory.appendingPathComponent(name + suffix).path
            if FileManager.default.fileExists(atPath: path) {
                throw CurveKeyFileError(path: path, message: "already exists; pstrain keygen never overwrites a key",
                                        hint: "choose another name, or remove the old pair first")
            }
        }
    }

    /// The public key in a `.key` (or `.key_secret`) file.
    public static func readPublicKey(_ path: String) throws(CurveKeyFileError) -> CurveKey {
        let fields = try read(path)
        guard let key = fields["public-key"] else {
            throw CurveKeyFileError(path: path, message: "no public-key line", hint: "key files are written by pstrain keygen (or pyzmq, or CZMQ)")
        }
        return key
    }

    /// The key pair in a `.key_secret` file, which only its owner may read; its public key must be the secret's.
    public static func readKeyPair(_ path: String) throws(CurveKeyFileError) -> CurveKeyPair {
        var info = stat()
        if stat(path, &info) == 0 && info.st_mode & 0o077 != 0 {
            throw CurveKeyFileError(path: path, message: String(format: "permissions %04o are too open: a secret key must be readable by its owner only", info.st_mode & 0o777),
                                    hint: "chmod 600 \(path)")
        }
        let fields = try read(path)
        guard let secret = fields["secret-key"] else {
            throw CurveKeyFileError(path: path, message: "no secret-key line: this is a public key file",
                                    hint: "give the NAME.key_secret file written by pstrain keygen")
        }
        let pair: CurveKeyPair
        do { pair = try CurveKeyPair(secretKey: secret) } catch {
            throw CurveKeyFileError(path: path, message: "cannot derive the public key: \(error)")
        }
        if let stated = fields["public-key"], stated != pair.publicKey {
            throw CurveKeyFileError(path: path, message: "its public-key is not the secret-key's", hint: "the file was edited or mixed up; generate a new pair")
        }
        return pair
    }

    /// The public keys of every `*.key` file in `directory`, each with its file's name without `.key`.
    public static func readAllowedKeys(directory: String) throws(CurveKeyFileError) -> [CurveKey: String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw CurveKeyFileError(path: directory, message: "cannot list the allowed keys: \(error.localizedDescription)",
                                    hint: "give a directory of the workers' NAME.key files")
        }
        var keys: [CurveKey: String] = [:]
        for name in names.sorted() where name.hasSuffix(".key") {
            keys[try readPublicKey("\(directory)/\(name)")] = String(name.dropLast(".key".count))
        }
        guard !keys.isEmpty else {
            throw CurveKeyFileError(path: directory, message: "no NAME.key files: no worker could connect",
                                    hint: "copy each worker's public key (NAME.key, never NAME.key_secret) here")
        }
        return keys
    }

    /// `public-key` and `secret-key` of a key file, checked line by line.
    static func read(_ path: String) throws(CurveKeyFileError) -> [String: CurveKey] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CurveKeyFileError(path: path, message: FileManager.default.fileExists(atPath: path) ? "cannot read it (permissions?)" : "no such file",
                                    hint: "key files are written by pstrain keygen")
        }
        guard data.count < 1 << 16 else { throw CurveKeyFileError(path: path, message: "\(data.count) bytes: too large for a key file") }
        var fields: [String: CurveKey] = [:]
        for (index, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard let name = ["public-key", "secret-key"].first(where: { line.hasPrefix($0) }) else { continue }
            let value = line.split(separator: "=", maxSplits: 1).dropFirst().first?.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'")) ?? ""
            guard let key = CurveKey(z85: value) else {
                throw CurveKeyFileError(path: path, line: index + 1, message: "\(name) is not 40 Z85 characters in quotes")
            }
            fields[name] = key
        }
        return fields
    }

    private static func create(_ path: String, _ text: String, mode: mode_t) throws(CurveKeyFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CurveKeyFileError(path: path, message: "cannot create it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        // The umask may have narrowed `mode`; a public key should be readable by all, a secret one stays 0600.
        fchmod(fd, mode)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count, fsync(fd) == 0 else {
            throw CurveKeyFileError(path: path, message: "cannot write it: \(String(cString: strerror(errno)))")
        }
    }
}
