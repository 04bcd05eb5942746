import Glibc

/// Writes `text` to standard error as it is, unbuffered. A failed write is dropped: a role whose launcher went away
/// (its ssh session ended, closing the pipe) must still stop cleanly and write its checkpoint, where Foundation's
/// `FileHandle.write` would crash on the broken pipe.
public func writeToStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if written > 0 {
            offset += written
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return
        }
    }
}
