import CBLAS

/// Process-wide settings of the BLAS library (OpenBLAS).
public enum BLAS {
    /// Sets how many threads OpenBLAS may use for one call. Workers on a shared host want 1.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count must be at least 1")
        openblas_set_num_threads(Int32(count))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
