import CCPUFeatures

/// A build for Haswell (see `targetCPUFlags` in Package.swift) would die of SIGILL, with no word why, at its
/// first AVX2 instruction on an older CPU. This says so first and names the fix; it must run before anything else.
func refuseCPUWithoutWhatThisBuildNeeds() {
    #if PSTRAIN_HASWELL_BUILD
    pstrain_require_haswell()
    #endif
}
