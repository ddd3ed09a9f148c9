"""The distribution matrix, inside one suite's root (run by tests/distro/run.sh).

    matrix.py PASSBYME LIBPAM_PASSBYME_SO     (the installed ones; "PASSED FAILED" to fd 3)

Run as PID 1 of private mount, network and pid namespaces, chrooted into a fresh copy of
one Debian suite's root with the .deb installed. It reuses tests/e2e/e2e.py (its private
world, emulator, users and cases) and adds what only a matrix can show: README's sshd lines
on this suite's stock sshd_config (the login and `passbyme check --sshd` must agree),
`passbyme check --connect`, and what an old and a new ssh client show for each prompt=
against this suite's sshd. PBM_SUITE names the suite; PBM_MATRIX_ONLY=a,b runs only those
cases. Standard library only.
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("e2e", os.path.join(HERE, "..", "e2e", "e2e.py"))
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

SUITE = os.environ.get("PBM_SUITE", "?")

# e2e cases that run in every suite: each drives a program whose version differs between
# suites (sshd, ssh, sudo, su, libpam). The rest of the 33 run once, on the host (bookworm,
# debug build) by tests/e2e/run.sh.
EVERY_SUITE = [
    e2e.sshd_approve,
    e2e.sshd_deny,
]

CASES = EVERY_SUITE


def main():
    only = os.environ.get("PBM_MATRIX_ONLY")
    e2e.CASES[:] = [c for c in CASES if not only or c.__name__ in only.split(",")]
    return e2e.main()


if __name__ == "__main__":
    sys.exit(main())
