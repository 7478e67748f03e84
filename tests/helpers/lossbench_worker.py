"""``python tests/lossbench_worker.py ARGS…``: the ``lossbench`` command line, for tests that need a
real process to be slow or to die at a chosen point.

Environment (all optional):
- ``LOSSBENCH_TEST_EPOCH_SLEEP``: seconds to sleep after each training epoch (a slow worker whose
  trial a test can catch running);
- ``LOSSBENCH_TEST_KILL_AT``: the N-th training of this process (trials and final runs, from 1)
  sends this process SIGKILL after its first epoch: no handler, no cleanup, as a crash or the
  kernel's out-of-memory killer would;
- ``LOSSBENCH_TEST_TRAININGS``: a file to which a line is appended as each training starts.
"""

import os
import signal
import sys
import time

from lossbench.cli import main
from lossbench.evaluation import final
from lossbench.tuning import trials as tuning_trials

SLEEP = float(os.environ.get("LOSSBENCH_TEST_EPOCH_SLEEP", "0"))
KILL_AT = int(os.environ.get("LOSSBENCH_TEST_KILL_AT", "0"))
LOG = os.environ.get("LOSSBENCH_TEST_TRAININGS")
started = [0]


def _wrap(original):
    def train(*args, on_epoch=None, **kwargs):
        started[0] += 1
        number = started[0]
        if LOG:
            with open(LOG, "a") as log:
                log.write(f"{os.getpid()} {number}\n")

        def epoch_done(epoch, score):
            if on_epoch is not None:
                on_epoch(epoch, score)
            if SLEEP:
                time.sleep(SLEEP)
            if number == KILL_AT:
                os.kill(os.getpid(), signal.SIGKILL)

        return original(*args, on_epoch=epoch_done, **kwargs)

    return train


tuning_trials.train = _wrap(tuning_trials.train)
final.train = _wrap(final.train)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
