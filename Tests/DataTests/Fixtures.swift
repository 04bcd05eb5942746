import Foundation

/// Paths of the test fixtures, found from this source file so tests run from any directory.
enum Fixtures {
    static let digits = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/digits").path

    static func digits(_ name: String) -> String { "\(digits)/\(name)" }

    /// A fresh temporary directory for malformed inputs.
    static func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
