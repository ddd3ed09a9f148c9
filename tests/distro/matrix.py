"""The distribution matrix, inside one suite's root (run by tests/distro/run.sh).

    matrix.py PASSBYME LIBPAM_PASSBYME_SO     (the installed ones; "PASSED FAILED" to fd 3)

Run as PID 1 of private mount, network and pid namespaces, chrooted into a fresh copy of
one Debian suite's root with the .deb installed. It reuses tests/e2e/e2e.py (its private
world, emulator, users and cases) and adds what only a matrix can show: README's sshd lines
on this suite's stock sshd_config (the login and `passbyme check --sshd` must agree),
`passbyme check --connect`, and what an old and a new ssh client show for each prompt=
against this suite's sshd. PBM_SUITE names the suite; PBM_MATRIX_ONLY=a,b runs only those
cases (any of e2e.py's too; "all": every one), PBM_MATRIX_FULL="SUITE …" every case in
those suites. Standard library only.
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
CLIENTS = {"oldest": "bullseye", "old": "bookworm", "new": "forky"}  # roots bound read-only at /opt/clients/NAME

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
""" + ("PerSourcePenalties no\n" if e2e.sshd_version() >= (9, 8) else "") + text)
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


def client_root(which):
    """The read-only root of an other suite's ssh client, with this world's /dev and /run."""
    r = f"/opt/clients/{CLIENTS[which]}"
    if not os.path.ismount(f"{r}/run"):
        e2e.sh("mount", "--rbind", "/dev", f"{r}/dev")
        e2e.sh("mount", "--rbind", "/run", f"{r}/run")
        e2e.sh("mount", "-t", "proc", "proc", f"{r}/proc")
    return r


def client_version(which):
    r = subprocess.run(["chroot", client_root(which), "/usr/bin/ssh", "-V"], capture_output=True, text=True)
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", r.stderr)
    assert m, r.stderr
    return int(m.group(1)), int(m.group(2))


def ssh_from(which, user):
    """e2e.ssh's login, by the ssh of another suite's root (same network, same key)."""
    return e2e.Pty(["/usr/sbin/chroot", client_root(which), "/usr/bin/ssh", "-F", "/dev/null", "-p", "2222",
                    "-i", f"{W}/client_key", "-o", "PreferredAuthentications=publickey,keyboard-interactive",
                    "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={W}/known_hosts",
                    "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=5",
                    f"{user}@{HOST}", "echo E2E-OK-$(id -un)"])


def code_before_approval(which, prompt):
    """Logs in with prompt=PROMPT through the sample pam.d/sshd, by the old or the new
    client; the phone approves once the module polls. Returns (whether the verification
    code was on the terminal before the approval, seconds after connecting it showed)."""
    user = f"mx_{which}_{prompt}"
    pbm_id = USERS[user]
    sample = open(f"{e2e.ROOT}/pam.d/sshd").read()
    line = r"(?m)^(auth .*pam_passbyme\.so.*)prompt=enter"
    assert re.search(line, sample), "the shipped pam.d/sshd has no prompt=enter on the module line"
    e2e.write("/etc/pam.d/sshd", re.sub(line, rf"\1prompt={prompt}", sample))
    try:
        t0 = time.monotonic()
        p = ssh_from(which, user)
        if prompt == "enter":
            shown = p.expect(e2e.PROMPT, 15)
            assert re.search(r"Verification code: \d\d", p.out), f"no code with the prompt: {p.tail()}"
            p.send("\n")
        e2e.wait_for("the module to poll", lambda: e2e.polled(pbm_id), 15)
        if prompt != "enter":
            # The module sent the code before it first polled: give it 2 s to arrive.
            try:
                shown = p.read_until("Verification code", 2.0)
            except AssertionError:
                shown = None
        before = shown is not None and "Verification code" in p.out
        msg = e2e.messages_for(pbm_id)[-1]["messageId"]
        e2e.admin(f"/admin/messages/{msg}/approve", "")
        p.succeeds(30)
        assert f"E2E-OK-{user}" in p.out, f"no remote command output; terminal: {p.tail()}"
    finally:
        e2e.shutil.copy(f"{e2e.ROOT}/pam.d/sshd", "/etc/pam.d/sshd")
    return before, (shown - t0) if before else None


def prompt_case(which, prompt):
    def case():
        server, client = e2e.sshd_version(), client_version(which)
        before, after = code_before_approval(which, prompt)
        # Measured: a prompt carries the code to every client; an info message reaches the
        # client before the approval only from sshd 10.3 on (it sends it at once), and
        # then OpenSSH's ssh 8.4, 9.2 and 10.6 all show it.
        want = prompt == "enter" or server >= (10, 3)
        said = (f"code on the terminal {after:.2f}s after connecting, before the approval" if before
                else "no code on the terminal before the approval")
        what = f"sshd {server[0]}.{server[1]}, ssh {client[0]}.{client[1]} ({CLIENTS[which]}), prompt={prompt}"
        assert before == want, f"{what}: {said}; expected {'the code' if want else 'none'}"
        return f"{what}: {said}; login approved"
    case.__name__ = f"prompt_{prompt}_{which}_client"
    return case


def check_says_which_prompt_fits():
    # check --sshd on this suite's sshd, for the sample (prompt=enter) and for prompt=info,
    # without and with --ssh-clients-show-info: what it says matches what the prompt
    # cases measured here.
    sample = open(f"{e2e.ROOT}/pam.d/sshd").read()
    conf = f"{W}/sshd_config_2222"
    new = e2e.sshd_version() >= (10, 3)
    got = {}
    try:
        for prompt in ("enter", "info"):
            e2e.write("/etc/pam.d/sshd", sample.replace("pam_passbyme.so prompt=enter", f"pam_passbyme.so prompt={prompt}"))
            for flag in ([], ["--ssh-clients-show-info"]):
                _, findings = check("--sshd-config", conf, "--pam-dir", "/etc/pam.d", *flag)
                f = [f for f in findings if f["id"] in ("sshd-prompt", "sshd-prompt-info")]
                assert len(f) == 1, findings
                got[(prompt, bool(flag))] = f"{f[0]['level']} {f[0]['id']}"
    finally:
        e2e.shutil.copy(f"{e2e.ROOT}/pam.d/sshd", "/etc/pam.d/sshd")
    want = {("enter", False): "OK sshd-prompt", ("enter", True): "OK sshd-prompt",
            ("info", False): "WARNING sshd-prompt-info",
            ("info", True): "OK sshd-prompt" if new else "WARNING sshd-prompt-info"}
    assert got == want, got
    return (f"prompt=enter OK; prompt=info WARNING"
            + (", OK with --ssh-clients-show-info" if new else " even with --ssh-clients-show-info (sshd before 10.3)"))


# Every client against an sshd that sends info messages at once (10.3+); elsewhere (where
# none shows it) the old and the new one.
PROMPT_CASES = [prompt_case(w, p) for p in ("enter", "info") for w in CLIENTS
                if w != "oldest" or e2e.sshd_version() >= (10, 3)]


def pamtester_in_every_suite():
    # pamtester through the installed samples: sshd's stack approves and denies, sudo's
    # (the password, then the push) approves. (The wrong-password and sudo-deny cases,
    # which wait out pam_unix's failure delay, run once on the host.)
    e2e.pamtester("sshd", "pbm_pt", "\n", True)
    e2e.pamtester("sshd", "pbm_ptd", "\n", False)
    e2e.pamtester("sudo", "pbm_pt", e2e.PASSWORD + "\n", True)
    return "sshd: approve passes, deny fails; sudo: password and approve pass"


def check_connect():
    code, findings = check("--connect")
    assert code == 0, (code, [f for f in findings if f["level"] != "OK"])
    return f"exit 0, {len(findings)} findings all OK"


# e2e cases that run in every suite: each drives a program whose version differs between
# suites (sshd, ssh, sudo, su, libpam). The rest of e2e's 33 (the client fallback, the
# approval latency, the grace period, sudo's retries and wrong passwords, the Hungarian
# texts but the lockout, sudo -n with the password stack) run once, on the host (Debian
# 12, debug build) by tests/e2e/run.sh; PBM_MATRIX_ONLY=all runs them here too.
EVERY_SUITE = [
    e2e.sshd_approve,
    e2e.sshd_deny,
    e2e.sshd_no_answer,  # the timeout
    e2e.sshd_disconnect_at_prompt,
    e2e.sshd_disconnect_while_polling,
    e2e.sshd_login_grace_time,
    e2e.sshd_audit_mode,  # audit mode in front of this suite's common-auth
    e2e.sshd_tells_lockout_in_hungarian,  # the lockout, and what sshd passes on with it
    e2e.sudo_approve,
    e2e.sudo_ctrl_c,
    e2e.sudo_i_approve,
    e2e.sudo_i_debian_stock_bypasses_the_push,  # check --sudo with this sudo's sudo -V
    e2e.su_pushes_to_the_invoker,  # user=invoker
    e2e.sudo_n_push_only_none,  # noninteractive_auth: sudo 1.9.9+ only
]
# The matrix's own cases.
MATRIX = [pamtester_in_every_suite, sshd_readme_lines_on_stock_config, sshd_readme_lines_with_challenge_response,
          check_connect,
          *PROMPT_CASES, check_says_which_prompt_fits]
CASES = EVERY_SUITE + [c for c in MATRIX if c is not sshd_readme_lines_with_challenge_response or SUITE == "bullseye"]
# Last: over everything above.
LAST = [e2e.nothing_left_pending, e2e.log_lines_well_formed]
CASES += LAST


def main():
    # PBM_MATRIX_ONLY=a,b picks any of e2e's cases or the matrix's; "all" runs every one.
    only = os.environ.get("PBM_MATRIX_ONLY")
    every = [c for c in e2e.CASES if c not in LAST] + MATRIX + LAST
    # PBM_MATRIX_FULL="bookworm …": every case in those suites (all of e2e's on the
    # packaged build, in place of a second host e2e run).
    if not only and SUITE in os.environ.get("PBM_MATRIX_FULL", "").split():
        only = "all"
    if only == "all":
        e2e.CASES[:] = every
    elif only:
        e2e.CASES[:] = [c for c in every if c.__name__ in only.split(",")]
    else:
        e2e.CASES[:] = CASES
    return e2e.main()


if __name__ == "__main__":
    sys.exit(main())
