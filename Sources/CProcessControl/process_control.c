#include "process_control.h"
#include <sys/prctl.h>

int pstrain_signal_on_parent_death(int signal) {
    return prctl(PR_SET_PDEATHSIG, signal);
}
