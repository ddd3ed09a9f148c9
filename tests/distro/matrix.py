"""The distribution matrix, inside one suite's root (run by tests/distro/run.sh).

    matrix.py PASSBYME LIBPAM_PASSBYME_SO     (the installed ones; "PASSED FAILED" to fd 3)

Run as PID 1 of private mount, network and pid namespaces, chrooted into a fresh copy of
one Debian suite's root with the .deb installed. It reuses tests/e2e/e2e.py (its private
world, emulator, users and cases) and adds what only a matrix can show: README's sshd lines
on this suite's stock sshd_config (the login and `passbyme check --sshd` must agree),
`passbyme check --connect`, and what an old and a new ssh client show for each prompt=
against this suite's sshd. PBM_SUITE names the suite; PBM_MATRIX_ONLY=a,b runs only those
cases (any of e2e.py's too; "all": every one). Standard library only.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("e2e", os.path.join(HERE, "..", "e2e", "e2e.py"))
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

SUITE = os.environ.get("PBM_SUITE", "?")
W, HOST, PROMPT = e2e.W, e2e.HOST, e2e.PROMPT
README = "/usr/share/doc/libpam-passbyme/README.md"  # the installed one
CLIENTS = {"old": "bookworm", "new": "forky"}  # roots bound read-only at /opt/clients/NAME

# The matrix's own users (the e2e ones keep their meaning; limits.grace = 1m would let a
# user who just logged in through without a push).
USERS = {
    "mx_readme": "mx_readme+approve+after=1s@e2e.test",
    "mx_crr": "mx_crr+approve+after=1s@e2e.test",
}
for _c in CLIENTS:
    for _p in ("info", "enter"):
        USERS[f"mx_{_c}_{_p}"] = f"mx_{_c}_{_p}+ignore@e2e.test"
e2e.USERS.update(USERS)
e2e.UNIX_USERS[:0] = list(USERS)


def check(*args):
    """`passbyme check ARGS --json` in this root: (exit code, findings)."""
    r = subprocess.run([e2e.EXE, "check", *args, "--json"], capture_output=True, text=True, timeout=60)
    doc = json.loads(r.stdout)
    assert r.returncode == doc["exit_code"], (r.returncode, r.stderr)
    return r.returncode, doc["findings"]


def readme_sshd_lines():
    """README's step 5: the lines put in front of the stock sshd_config (its printf)."""
    m = re.search(r"\{ printf '(UsePAM yes[^']*)'", open(README).read())
    assert m, f"no printf 'UsePAM yes… line in {README}"
    return m.group(1).replace("\\n", "\n")


def sshd_on(port, text):
    """An sshd of this suite on `port` with `text` (our test lines first: port, keys)."""
    conf = f"{W}/sshd_config_{port}"
    e2e.write(conf, f"""Port {port}
ListenAddress {HOST}
HostKey {W}/hostkey
PidFile {W}/sshd_{port}.pid
AuthorizedKeysFile {W}/keys/%u
StrictModes no
PasswordAuthentication no
""" + text)
    p = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", conf, "-E", f"{W}/sshd_{port}.log"])
    e2e.procs.append(p)
    e2e.wait_for(f"sshd on {port}", lambda: subprocess.run(
        ["bash", "-c", f"exec 3<>/dev/tcp/{HOST}/{port}"], capture_output=True).returncode == 0)
    return conf, p


def verdict(conf):
    """README step 5 (check --sshd-config FILE --pam-dir DIR) and step 6 (the file installed
    as /etc/ssh/sshd_config, check --sshd) must agree: (exit code, problems, findings)."""
    code, findings = check("--sshd-config", conf, "--pam-dir", "/etc/pam.d")
    bad = [f"{f['level']} {f['id']}" for f in findings if f["level"] in ("CRITICAL", "WARNING", "UNKNOWN")]
    stock = open("/etc/ssh/sshd_config").read()  # the private /etc's copy
    try:
        e2e.write("/etc/ssh/sshd_config", open(conf).read())
        code6, findings6 = check("--sshd")
    finally:
        e2e.write("/etc/ssh/sshd_config", stock)
    bad6 = [f"{f['level']} {f['id']}" for f in findings6 if f["level"] in ("CRITICAL", "WARNING", "UNKNOWN")]
    assert (code6, bad6) == (code, bad), f"check --sshd: {code6} {bad6}; check --sshd-config: {code} {bad}"
    return code, bad, findings


def login(user, port):
    """A key + keyboard-interactive login with this suite's ssh: True when it ran the command."""
    before = len(e2e.messages_for(USERS[user]))
    p = e2e.ssh(user, port=port)
    if p.read_until(PROMPT, 15) is not None:
        p.send("\n")
    st = p.wait(30)
    ran = st == 0 and f"E2E-OK-{user}" in p.out
    pushes = len(e2e.messages_for(USERS[user])) - before
    return ran, pushes, p


def sshd_readme_lines_on_stock_config():
    # README step 5 on this suite's own /etc/ssh/sshd_config: the login and the check agree.
    stock = open("/etc/ssh/sshd_config").read()
    conf, proc = sshd_on(2224, readme_sshd_lines() + stock)
    try:
        code, bad, findings = verdict(conf)
        ran, pushes, p = login("mx_readme", 2224)
    finally:
        proc.terminate()
        proc.wait()
    if e2e.sshd_version() < (8, 7):
        # OpenSSH 8.4: keyboard-interactive runs PAM only with ChallengeResponseAuthentication
        # yes, and the stock file says no: refused with no push; the check says so.
        assert not ran and pushes == 0 and "Permission denied" in p.out, \
            f"ran={ran} pushes={pushes}; terminal: {p.tail()}"
        assert code == 2 and "CRITICAL sshd-challengeresponse-off" in bad, (code, bad)
        msg = [f["message"] for f in findings if f["id"] == "sshd-challengeresponse-off"][0]
        assert msg.startswith(f"sshd -f {conf}: ChallengeResponseAuthentication no: OpenSSH 8.4 "
                              "(before OpenSSH 8.7) runs PAM through keyboard-interactive only with "
                              "ChallengeResponseAuthentication yes"), msg
        return f"locked out (Permission denied, no push); check exit 2, {', '.join(bad)}"
    assert ran and pushes == 1, f"ran={ran} pushes={pushes}; terminal: {p.tail()}"
    assert code == 0 and not bad, (code, bad)
    return "approved login with one push; check exit 0 (PASSBYME OK)"


def sshd_readme_lines_with_challenge_response():
    # README's note for OpenSSH before 8.7: add ChallengeResponseAuthentication yes.
    stock = open("/etc/ssh/sshd_config").read()
    conf, proc = sshd_on(2225, readme_sshd_lines() + "ChallengeResponseAuthentication yes\n" + stock)
    try:
        code, bad, _ = verdict(conf)
        ran, pushes, p = login("mx_crr", 2225)
    finally:
        proc.terminate()
        proc.wait()
    assert ran and pushes == 1, f"ran={ran} pushes={pushes}; terminal: {p.tail()}"
    assert code == 0 and not bad, (code, bad)
    return "approved login with one push; check exit 0 (PASSBYME OK)"


def check_connect():
    code, findings = check("--connect")
    assert code == 0, (code, [f for f in findings if f["level"] != "OK"])
    return f"exit 0, {len(findings)} findings all OK"

# e2e cases that run in every suite: each drives a program whose version differs between
# suites (sshd, ssh, sudo, su, libpam). The rest of the 33 run once, on the host (bookworm,
# debug build) by tests/e2e/run.sh.
EVERY_SUITE = [
    e2e.sshd_approve,
    e2e.sshd_deny,
]
# The matrix's own cases.
MATRIX = [sshd_readme_lines_on_stock_config, check_connect]
if SUITE == "bullseye":  # only OpenSSH before 8.7 needs it; README says so
    MATRIX.append(sshd_readme_lines_with_challenge_response)

CASES = EVERY_SUITE + MATRIX


def main():
    # PBM_MATRIX_ONLY=a,b picks any of e2e's cases or the matrix's; "all" runs every one.
    only = os.environ.get("PBM_MATRIX_ONLY")
    every = e2e.CASES + [c for c in MATRIX if c not in e2e.CASES]
    if only == "all":
        e2e.CASES[:] = every
    elif only:
        e2e.CASES[:] = [c for c in every if c.__name__ in only.split(",")]
    else:
        e2e.CASES[:] = CASES
    return e2e.main()


if __name__ == "__main__":
    sys.exit(main())
