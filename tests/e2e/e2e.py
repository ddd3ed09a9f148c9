"""End-to-end tests: real sshd, ssh, sudo and pamtester through the shipped pam.d files.

Run by tests/e2e/run.sh inside private mount, network and pid namespaces; everything it
changes (a copy of /etc, /run, the PAM module directory) exists only there. Standard
library only (/usr/bin/python3).
"""

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.request

BIN = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
W = "/run/pbm-e2e"
HOST = "127.0.10.1"
API = f"{HOST}:8443"
ADMIN = f"http://{HOST}:9000"
SECURITY = "/usr/lib/x86_64-linux-gnu/security"
PASSWORD = "e2e-Secret-pw"
TIMEOUT = 8  # the module's deadline (login.timeout) in these tests

# Unix test users and the PassBy[ME] scenario each one maps to (emulator tags).
USERS = {
    "pbm_ok": "pbm_ok+approve+after=1s@e2e.test",
    "pbm_deny": "pbm_deny+deny+after=1s@e2e.test",
    "pbm_slow": "pbm_slow+ignore@e2e.test",
    "pbm_man": "pbm_man+ignore@e2e.test",
    "pbm_gone": "pbm_gone+ignore@e2e.test",
    "pbm_gone2": "pbm_gone2+ignore@e2e.test",
    "pbm_grace": "pbm_grace+ignore@e2e.test",
    "pbm_sudo": "pbm_sudo+approve+after=1s@e2e.test",
    "pbm_sdeny": "pbm_sdeny+deny+after=1s@e2e.test",
    "pbm_ctrlc": "pbm_ctrlc+ignore@e2e.test",
    "pbm_n": "pbm_n+approve+after=1s@e2e.test",
    "pbm_pt": "pbm_pt+approve+after=500ms@e2e.test",
    "pbm_ptd": "pbm_ptd+deny+after=500ms@e2e.test",
}

procs = []


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def admin(path, body=None):
    req = urllib.request.Request(ADMIN + path, data=None if body is None else body.encode(),
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read() or b"null")


def messages_for(pbm_id):
    return [m for m in admin("/admin/messages") if m["recipients"][0]["userId"] == pbm_id]


def wait_for(what, cond, limit=10.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(pbm_id):
    msgs = messages_for(pbm_id)
    return msgs[-1]["recipients"][0]["status"] if msgs else None


def setup():
    sh("ip", "link", "set", "lo", "up")
    sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
    os.makedirs("/run/sshd", mode=0o755)
    os.makedirs(W)
    # A private /etc: every change below stays in this namespace.
    sh("cp", "-a", "/etc", f"{W}/etc")
    sh("mount", "--bind", f"{W}/etc", "/etc")
    for log in ("wtmp", "btmp", "lastlog"):
        if os.path.exists(f"/var/log/{log}"):
            write(f"{W}/{log}", "", 0o664)
            sh("mount", "--bind", f"{W}/{log}", f"/var/log/{log}")
    # The module where libpam looks for it, in a private copy of the module directory.
    sh("cp", "-a", SECURITY, f"{W}/security")
    shutil.copy(f"{BIN}/libpam_passbyme.so", f"{W}/security/pam_passbyme.so")
    os.chmod(f"{W}/security/pam_passbyme.so", 0o644)
    sh("mount", "--bind", f"{W}/security", SECURITY)
    # Test users exist only in the private user database.
    pwhash = sh("openssl", "passwd", "-6", "-salt", "e2esalt", PASSWORD).stdout.strip()
    os.makedirs(f"{W}/keys")
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{W}/client_key")
    pub = open(f"{W}/client_key.pub").read()
    with open("/etc/passwd", "a") as pw, open("/etc/shadow", "a") as sd, \
            open("/etc/group", "a") as gr, open("/etc/gshadow", "a") as gs:
        for i, user in enumerate(USERS):
            uid = 42000 + i
            home = f"{W}/home/{user}"
            os.makedirs(home)
            os.chown(home, uid, uid)
            pw.write(f"{user}:x:{uid}:{uid}::{home}:/bin/sh\n")
            sd.write(f"{user}:{pwhash}:19000:0:99999:7:::\n")
            gr.write(f"{user}:x:{uid}:\n")
            gs.write(f"{user}:!::\n")
            write(f"{W}/keys/{user}", pub)
    write("/etc/sudoers.d/pbm-e2e",
          "Defaults timestamp_timeout=0, !lecture\n"
          "Defaults:pbm_n noninteractive_auth\n"
          + "".join(f"{u} ALL=(ALL) ALL\n" for u in USERS), 0o440)
    # The shipped pam.d files, as they are in the repository.
    shutil.copy(f"{ROOT}/pam.d/sshd", "/etc/pam.d/sshd")
    shutil.copy(f"{ROOT}/pam.d/sudo", "/etc/pam.d/sudo")
    # The emulator, inside the private network.
    emu = subprocess.Popen([f"{BIN}/passbyme", "emulator", "--listen", API, "--admin",
                            f"{HOST}:9000", "--state-dir", f"{W}/emu", "--answer", "ignore"],
                           stdout=subprocess.PIPE, stderr=open(f"{W}/emulator.log", "w"), text=True)
    procs.append(emu)
    line = emu.stdout.readline()
    assert line.startswith("listening on"), line
    os.makedirs("/etc/passbyme", mode=0o755, exist_ok=True)
    users = "".join(f'{u} = "{i}"\n' for u, i in USERS.items())
    write("/etc/passbyme/passbyme.toml", f"""
[service]
address = "{API}"
credentials = "{W}/emu/client.pem"
password_file = "{W}/emu/client.password"
ca_bundle = "{W}/emu/ca.pem"

[login]
timeout = "{TIMEOUT}s"
poll_interval = "500ms"
poll_interval_seen = "200ms"

[limits]
max_pushes = 100
grace = "1m"

[users]
{users}""", 0o600)
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{W}/hostkey")
    for port, grace in ((2222, 30), (2223, 4)):
        write(f"{W}/sshd_config_{port}", f"""
Port {port}
ListenAddress {HOST}
HostKey {W}/hostkey
PidFile {W}/sshd_{port}.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
AuthenticationMethods publickey,keyboard-interactive
AuthorizedKeysFile {W}/keys/%u
StrictModes no
LoginGraceTime {grace}
PrintMotd no
""")
        procs.append(subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", f"{W}/sshd_config_{port}",
                                       "-E", f"{W}/sshd_{port}.log"]))
    for port in (2222, 2223):
        wait_for(f"sshd on {port}", lambda: subprocess.run(
            ["bash", "-c", f"exec 3<>/dev/tcp/{HOST}/{port}"], capture_output=True).returncode == 0)


class Pty:
    """A program on a pseudo-terminal, with timestamps of what it printed."""

    def __init__(self, argv, uid=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                if uid is not None:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                    os.environ["HOME"] = "/"
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        self.out = ""
        self.status = None

    def read_until(self, needle, limit):
        """Reads until `needle` is printed (returns the time) or the program ends (None)."""
        end = time.monotonic() + limit
        while needle not in self.out:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {needle!r} within {limit}s; output so far: {self.out!r}")
            r, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    return None
                self.out += data.decode(errors="replace")
        return time.monotonic()

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self, limit=30):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    data = os.read(self.fd, 4096)
                    self.out += data.decode(errors="replace")
            except OSError:
                pass
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return self.status
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"still running after {limit}s: {self.out!r}")

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def ssh(user, port=2222, preferred=True):
    # The client settings the README recommends: after a refusal sshd disables
    # keyboard-interactive for the connection (PAM_MAXTRIES), and a client left to its
    # defaults then falls back to asking for a password the server will not take.
    pref = ["-o", "PreferredAuthentications=publickey,keyboard-interactive"] if preferred else []
    return Pty(["/usr/bin/ssh", "-F", "/dev/null", "-p", str(port), "-i", f"{W}/client_key", *pref,
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={W}/known_hosts",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=5",
                *os.environ.get("PBM_E2E_SSH_OPTS", "").split(),
                f"{user}@{HOST}", "echo E2E-OK-$(id -un)"])


def uid_of(user):
    return 42000 + list(USERS).index(user)


def sudo(user, *args):
    return Pty(["/usr/bin/sudo", "-k", "-p", "PWPROMPT:", *args, "/usr/bin/id", "-un"], uid=uid_of(user))


# --------------------------------------------------------------------------------------
# The cases. Each returns a short detail string or raises AssertionError.

PROMPT = "Press Enter once you have approved"


def sshd_approve():
    p = ssh("pbm_ok")
    assert p.read_until(PROMPT, 15), p.out
    assert "Verification code: " in p.out, p.out
    p.send("\n")
    assert p.wait() == 0, p.out
    assert "E2E-OK-pbm_ok" in p.out, p.out
    return "remote command ran"


def sshd_deny():
    p = ssh("pbm_deny")
    assert p.read_until(PROMPT, 15), p.out
    p.send("\n")
    assert p.wait() != 0, p.out
    assert "E2E-OK" not in p.out and "Permission denied" in p.out, p.out
    assert status_of(USERS["pbm_deny"]) == "DENIED"
    return "refused"


def sshd_deny_default_client():
    # A client with default settings: after the denial it asks for a password (its own
    # fallback); whatever is typed, the server refuses and sends no second push.
    before = len(messages_for(USERS["pbm_deny"]))
    p = ssh("pbm_deny", preferred=False)
    assert p.read_until(PROMPT, 15), p.out
    p.send("\n")
    prompts = 0
    while p.read_until("password:", 15) and prompts < 5:
        prompts += 1
        p.out = p.out.replace("password:", "pass-word:")
        p.send("\n")
    assert p.wait() != 0, p.out
    assert "E2E-OK" not in p.out
    assert len(messages_for(USERS["pbm_deny"])) == before + 1, "one push only"
    return f"refused; the client's {prompts} password fallback prompt(s) sent no push"


def sshd_no_answer():
    p = ssh("pbm_slow")
    assert p.read_until(PROMPT, 15), p.out
    t0 = time.monotonic()
    p.send("\n")
    assert p.wait(TIMEOUT + 15) != 0, p.out
    took = time.monotonic() - t0
    assert "E2E-OK" not in p.out
    assert status_of(USERS["pbm_slow"]) == "CANCELLED", status_of(USERS["pbm_slow"])
    return f"refused after {took:.1f}s (deadline {TIMEOUT}s), message CANCELLED"


def sshd_disconnect_at_prompt():
    p = ssh("pbm_gone")
    assert p.read_until(PROMPT, 15), p.out
    t0 = time.monotonic()
    p.kill()
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_gone"]) == "CANCELLED", 10)
    return f"message CANCELLED {time.monotonic() - t0:.1f}s after the client left"


def sshd_disconnect_while_polling():
    p = ssh("pbm_gone2")
    assert p.read_until(PROMPT, 15), p.out
    p.send("\n")
    time.sleep(1)
    t0 = time.monotonic()
    p.kill()
    # sshd does not notice the client while the module polls: the module's own deadline
    # (or LoginGraceTime, 30 s here) ends it.
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_gone2"]) == "CANCELLED",
             TIMEOUT + 10)
    return f"message CANCELLED {time.monotonic() - t0:.1f}s after the client left"


def sshd_login_grace_time():
    # This sshd has LoginGraceTime 4 s, below the module's 8 s deadline: sshd SIGTERMs the
    # PAM process while the module polls; the module cancels, then dies as sshd expects.
    p = ssh("pbm_slow", port=2223)
    assert p.read_until(PROMPT, 15), p.out
    before = len(messages_for(USERS["pbm_slow"]))
    p.send("\n")
    t0 = time.monotonic()
    p.wait(20)
    msgs = messages_for(USERS["pbm_slow"])
    assert len(msgs) == before, "no second push"
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_slow"]) == "CANCELLED", 10)
    took = time.monotonic() - t0
    assert took < TIMEOUT, f"ended by LoginGraceTime, not the module's deadline: {took:.1f}s"
    return f"client refused and message CANCELLED {took:.1f}s after Enter (LoginGraceTime 4s)"


def sshd_approval_to_login():
    p = ssh("pbm_man")
    assert p.read_until(PROMPT, 15), p.out
    p.send("\n")
    time.sleep(2.5)  # the user looks at the phone (SEEN), then approves
    msg = messages_for(USERS["pbm_man"])[-1]["messageId"]
    t0 = time.monotonic()
    admin(f"/admin/messages/{msg}/approve", "")
    t1 = p.read_until("E2E-OK-pbm_man", 10)
    assert t1, p.out
    p.wait()
    latency = t1 - t0
    assert latency < 3.0, f"{latency:.2f}s from approval to the remote command"
    return f"approval -> remote command output in {latency * 1000:.0f} ms"


def sshd_grace_period():
    # limits.grace = 1m: a second login from the same host and service needs no push.
    p = ssh("pbm_grace")
    assert p.read_until(PROMPT, 15), p.out
    p.send("\n")
    msg = wait_for("the push", lambda: messages_for(USERS["pbm_grace"]))[-1]["messageId"]
    admin(f"/admin/messages/{msg}/approve", "")
    assert p.wait() == 0, p.out
    p = ssh("pbm_grace")
    assert p.wait(15) == 0, p.out
    assert "E2E-OK-pbm_grace" in p.out and PROMPT not in p.out, p.out
    assert len(messages_for(USERS["pbm_grace"])) == 1
    return "second login went through without a push"


def sudo_approve():
    p = sudo("pbm_sudo")
    assert p.read_until("PWPROMPT:", 10), p.out
    p.send(PASSWORD + "\n")
    assert p.read_until("Verification code", 10), p.out
    assert p.wait() == 0, p.out
    assert p.out.rstrip().endswith("root"), p.out
    return "command ran as root"


def sudo_deny():
    before = len(messages_for(USERS["pbm_sdeny"]))
    p = sudo("pbm_sdeny")
    assert p.read_until("PWPROMPT:", 10), p.out
    p.send(PASSWORD + "\n")
    # sudo treats the refusal like a wrong password and asks again (passwd_tries = 3):
    # another push needs the password again; wrong ones end it with no further push.
    for _ in range(2):
        p.out = p.out.replace("PWPROMPT:", "pw-prompt:")
        assert p.read_until("PWPROMPT:", 15), p.out
        p.send("wrong\n")
    assert p.wait() != 0, p.out
    assert "Sorry, try again." in p.out and not p.out.rstrip().endswith("root"), p.out
    assert status_of(USERS["pbm_sdeny"]) == "DENIED"
    assert len(messages_for(USERS["pbm_sdeny"])) == before + 1, "one push"
    return "refused; sudo's retries needed the password again, no second push"


def sudo_wrong_password_sends_no_push():
    p = sudo("pbm_sdeny")
    before = len(messages_for(USERS["pbm_sdeny"]))
    for _ in range(3):  # sudo's passwd_tries
        assert p.read_until("PWPROMPT:", 10), p.out
        p.out = p.out.replace("PWPROMPT:", "pw-prompt:")
        p.send("wrong\n")
    assert p.wait() != 0, p.out
    assert len(messages_for(USERS["pbm_sdeny"])) == before
    return "refused by the password, no push"


def sudo_ctrl_c():
    p = sudo("pbm_ctrlc")
    assert p.read_until("PWPROMPT:", 10), p.out
    p.send(PASSWORD + "\n")
    assert p.read_until("Verification code", 10), p.out
    wait_for("the push", lambda: messages_for(USERS["pbm_ctrlc"]))
    time.sleep(0.5)
    t0 = time.monotonic()
    p.send("\x03")
    # sudo holds SIGINT while it authenticates; the module sees it pending and cancels.
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_ctrlc"]) == "CANCELLED", 5)
    cancelled = time.monotonic() - t0
    st = p.wait(10)
    ended = time.monotonic() - t0
    assert st != 0 and not p.out.rstrip().endswith("root"), p.out
    assert cancelled < 1.0, f"cancelled {cancelled:.2f}s after Ctrl-C"
    # sudo itself returns after libpam's failure delay (pam_unix asks for ~2 s, randomised).
    return f"message CANCELLED {cancelled * 1000:.0f} ms after Ctrl-C; sudo ended after {ended:.2f}s"


def sudo_n_with_password_stack():
    before = len(messages_for(USERS["pbm_n"]))
    p = sudo("pbm_n", "-n")
    assert p.wait(15) != 0, p.out
    assert len(messages_for(USERS["pbm_n"])) == before
    return "refused without a push (the password cannot be asked)"


def sudo_n_push_only():
    # The push-only variant the sample file documents: no common-auth, prompt=none, and
    # Defaults noninteractive_auth (set for pbm_n) so that sudo -n runs PAM.
    text = open(f"{ROOT}/pam.d/sudo").read()
    text = text.replace("@include common-auth", "# (push only)").replace("prompt=info", "prompt=none")
    write("/etc/pam.d/sudo", text)
    try:
        p = sudo("pbm_n", "-n")
        assert p.wait(15) == 0, p.out
        assert p.out.rstrip().endswith("root"), p.out
    finally:
        shutil.copy(f"{ROOT}/pam.d/sudo", "/etc/pam.d/sudo")
    return "sudo -n ran the command after the push was approved"


def pamtester(service, user, stdin):
    return subprocess.run(["pamtester", service, user, "authenticate"], input=stdin,
                          capture_output=True, text=True, timeout=30)


def pamtester_shipped_files():
    r = pamtester("sshd", "pbm_pt", "\n")
    assert r.returncode == 0 and "successfully authenticated" in r.stdout + r.stderr, r
    r = pamtester("sshd", "pbm_ptd", "\n")
    assert r.returncode != 0, r
    r = pamtester("sudo", "pbm_pt", PASSWORD + "\n")
    assert r.returncode == 0, r
    r = pamtester("sudo", "pbm_ptd", PASSWORD + "\n")
    assert r.returncode != 0, r
    return "sshd and sudo stacks: approve passes, deny fails"


def nothing_left_pending():
    time.sleep(1)
    open_msgs = [m["messageId"] + ":" + m["recipients"][0]["userId"] + ":" + m["recipients"][0]["status"]
                 for m in admin("/admin/messages")
                 if m["recipients"][0]["status"] in ("PENDING", "NOTIFIED", "DOWNLOADED", "SEEN")]
    assert not open_msgs, open_msgs
    return f"{len(admin('/admin/messages'))} messages, none left open"


CASES = [sshd_approve, sshd_deny, sshd_deny_default_client, sshd_no_answer, sshd_disconnect_at_prompt,
         sshd_disconnect_while_polling, sshd_login_grace_time, sshd_approval_to_login,
         sshd_grace_period, sudo_approve, sudo_deny, sudo_wrong_password_sends_no_push,
         sudo_ctrl_c, sudo_n_with_password_stack, sudo_n_push_only, pamtester_shipped_files,
         nothing_left_pending]


def main():
    try:
        setup()
    except Exception:
        traceback.print_exc()
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for case in CASES:
        t0 = time.monotonic()
        try:
            detail = case()
            passed += 1
            print(f"ok   {case.__name__} ({time.monotonic() - t0:.1f}s): {detail}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, then the next case runs
            failed += 1
            print(f"FAIL {case.__name__} ({time.monotonic() - t0:.1f}s): {e}", flush=True)
    for p in procs:
        p.terminate()
    if failed:
        for log in ("sshd_2222.log", "sshd_2223.log", "emulator.log"):
            print(f"--- {log} (tail)")
            print("".join(open(f"{W}/{log}").readlines()[-25:]))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
