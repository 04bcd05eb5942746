import Foundation
import Glibc
import Roles
import Testing

/// `ChildProcess` sees each child's end by itself, passes a child none of the launcher's descriptors, and reports
/// statuses as the launcher reads them.
@Suite struct ChildProcessTests {
    static func start(_ arguments: [String], output: Pipe = Pipe(), exited: DispatchSemaphore) throws -> ChildProcess {
        try ChildProcess(executable: URL(fileURLWithPath: arguments[0]), arguments: Array(arguments.dropFirst()),
                         environment: ProcessInfo.processInfo.environment, output: output, errors: Pipe()) { exited.signal() }
    }

    /// The case that hid a failed worker from `launch ssh`: a child that closes every descriptor it inherited, as
    /// ssh does, runs on while another child exits. That exit is seen at once, with its status.
    @Test func anExitIsSeenWhileAChildThatClosedItsDescriptorsRuns() throws {
        let exited = DispatchSemaphore(value: 0), said = Pipe()
        let closer = try Self.start(["/usr/bin/python3", "-c", "import os, time; os.closerange(3, 1 << 16); print('closed', flush=True); time.sleep(120)"],
                                    output: said, exited: exited)
        defer { closer.terminate(with: SIGKILL) }
        let line = said.fileHandleForReading.readData(ofLength: 7)
        try #require(String(decoding: line, as: UTF8.self) == "closed\n")
        let quick = try Self.start(["/bin/sh", "-c", "exit 7"], exited: exited)
        #expect(exited.wait(timeout: .now() + 30) == .success, "no exit seen")
        #expect(!quick.isRunning && quick.terminationStatus == 7)
        #expect(closer.isRunning)
        closer.terminate()
        closer.waitUntilExit()
        #expect(closer.terminationStatus == SIGTERM, "a signal's number, as Foundation's Process gives it")
        closer.terminate(with: SIGKILL) // after its end: nothing is sent, nothing fails
    }

    /// A child starts with no signal blocked, whichever thread starts it: this test runs on a pool's thread that
    /// blocks most, which a child would otherwise inherit, and then ignore SIGTERM.
    @Test func aChildStartsWithNoSignalBlocked() throws {
        let output = Pipe(), exited = DispatchSemaphore(value: 0)
        let child = try Self.start(["/usr/bin/python3", "-c", "print(open('/proc/self/status').read())"], output: output, exited: exited)
        let status = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        #expect(status.contains("\nSigBlk:\t0000000000000000\n"), "\(status)")
    }

    /// A child holds standard input, output and error only: none of the launcher's pipes to other children, whose
    /// ends would otherwise never come.
    @Test func aChildInheritsNoOtherDescriptor() throws {
        let held = Pipe() // open in this process while the child starts
        let output = Pipe(), exited = DispatchSemaphore(value: 0)
        let child = try Self.start(["/bin/sh", "-c", "ls /proc/$$/fd"], output: output, exited: exited)
        let listed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        #expect(listed.split(separator: "\n") == ["0", "1", "2"], "\(listed)")
        withExtendedLifetime(held) {}
    }

    /// A child's standard input is a pipe of its own, which ends when `closeInput()` closes it; even while a
    /// program started meanwhile by other code, which passes on every descriptor it may, runs on.
    @Test func aChildsInputIsAPipeThatEndsWhenClosed() throws {
        let output = Pipe(), exited = DispatchSemaphore(value: 0)
        let reader = try Self.start(["/bin/sh", "-c", "stat -L -c %F /dev/stdin; cat; echo ended"], output: output, exited: exited)
        defer { reader.terminate(with: SIGKILL) }
        let kind = output.fileHandleForReading.readData(ofLength: 5)
        try #require(String(decoding: kind, as: UTF8.self) == "fifo\n", "its input is not this process's own")
        var bystander: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("60"), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&bystander, "/bin/sleep", nil, nil, argv, environ) == 0)
        defer {
            kill(bystander, SIGKILL)
            waitpid(bystander, nil, 0)
        }
        #expect(reader.isRunning)
        reader.closeInput()
        #expect(exited.wait(timeout: .now() + 30) == .success, "its input never ended")
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "ended\n")
        #expect(!reader.isRunning && reader.terminationStatus == 0)
        reader.closeInput() // after its end: nothing to close, nothing fails
    }

    @Test func aProgramThatCannotRunIsAnError() throws {
        #expect(throws: POSIXError.self) {
            try Self.start(["/nonexistent/program"], exited: DispatchSemaphore(value: 0))
        }
    }
}
