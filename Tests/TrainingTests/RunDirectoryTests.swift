import Foundation
import Synchronization
import Testing
import Training

/// Where a run writes when no `--run-dir` is given: a new directory named after the second it started at.
struct RunDirectoryTests {
    static func scratchParent() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-rundir-\(UUID().uuidString)").appendingPathComponent("runs")
    }

    @Test func runsStartedInTheSameSecondGetDirectoriesOfTheirOwn() throws {
        let parent = Self.scratchParent()
        defer { try? FileManager.default.removeItem(at: parent.deletingLastPathComponent()) }
        let made = try (1 ... 3).map { _ in try RunDirectory.makeNew(named: "20261125-101500", in: parent).lastPathComponent }
        #expect(made == ["20261125-101500", "20261125-101500-2", "20261125-101500-3"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path).sorted() == made)
    }

    @Test func runsStartedTogetherNeverShareADirectory() throws {
        let parent = Self.scratchParent()
        defer { try? FileManager.default.removeItem(at: parent.deletingLastPathComponent()) }
        let made = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let url = try? RunDirectory.makeNew(named: "20261125-101500", in: parent)
            made.withLock { $0.append(url?.lastPathComponent ?? "failed") }
        }
        let names = made.withLock { $0 }
        #expect(!names.contains("failed"))
        #expect(Set(names).count == 16)
    }

    @Test func aFileInTheWayIsNamed() throws {
        let parent = Self.scratchParent()
        defer { try? FileManager.default.removeItem(at: parent.deletingLastPathComponent()) }
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let blocked = parent.appendingPathComponent("blocked")
        try Data().write(to: blocked)
        let error = try #require(throws: RunDirectoryError.self) { try RunDirectory.makeNew(named: "run", in: blocked) }
        #expect(error.path == blocked.path)
        #expect(error.message.hasPrefix("cannot create the run directory"))
    }
}
