"""End-to-end tests: real sshd, ssh, sudo and pamtester through the shipped pam.d files.

Run by tests/e2e/run.sh as PID 1 of private mount, network and pid namespaces:
    e2e.py PASSBYME LIBPAM_PASSBYME_SO      (writes "PASSED FAILED" to fd 3 at the end)
Everything it changes exists only in those namespaces and vanishes with them: a copy of
/etc bind-mounted over /etc (so /etc/pam.d, the user database, sudoers.d and /etc/passbyme
are private), tmpfs over /run, a private /dev whose /dev/log this driver reads, empty login
logs, and a copy of the PAM module directory holding the module under its installed name.
Standard library only (/usr/bin/python3): no pip.

Every case prints `ok  NAME (T s): detail` or `FAIL NAME: why`; run.sh adds the host /etc
check and the final `N passed, M failed` line.
"""

import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

EXE, SO = sys.argv[1], sys.argv[2]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
W = "/run/pbm-e2e"  # on the private tmpfs /run
HOST = "127.0.10.1"  # inside the private network namespace: no clash with the host
API = f"{HOST}:8443"
ADMIN = f"http://{HOST}:9000"
SECURITY = "/usr/lib/x86_64-linux-gnu/security"  # where Debian's libpam looks
PASSWORD = "e2e-Secret-pw"
TIMEOUT = 5  # login.timeout, the module's deadline, in these tests
GRACE_SHORT = 3  # LoginGraceTime of the second sshd: below TIMEOUT

# Unix test users and the PassBy[ME] ID each maps to; the tags choose the emulator's answer.
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
    "pbm_n2": "pbm_n2+approve+after=1s@e2e.test",
    "pbm_n3": "pbm_n3+ignore@e2e.test",
    "pbm_pt": "pbm_pt+approve+after=500ms@e2e.test",
    "pbm_ptd": "pbm_ptd+deny+after=500ms@e2e.test",
    "pbm_su": "pbm_su+approve+after=1s@e2e.test",
    "pbm_sudn": "pbm_sudn+deny+after=1s@e2e.test",
    "pbm_si": "pbm_si+approve+after=1s@e2e.test",
    "pbm_sid": "pbm_sid+deny+after=1s@e2e.test",
    # What the person is told, in Hungarian (the outcome-line cases).
    "pbm_hud": "pbm_hud+deny+after=1s@e2e.test",
    "pbm_hut": "pbm_hut+ignore@e2e.test",
    "pbm_hul": "pbm_hul+deny+after=500ms@e2e.test",
    "pbm_hus": "pbm_hus+deny+after=1s@e2e.test",
    "pbm_husl": "pbm_husl+deny+after=500ms@e2e.test",
}
UNMAPPED = "pbm_nomap"  # a Unix user with no [users] entry
SU_TARGET = "pbm_sutgt"  # the user `su` becomes: unmapped, so only user=invoker can push
UNIX_USERS = list(USERS) + [UNMAPPED, SU_TARGET]
STOCK_SUDO_I = None  # Debian's /etc/pam.d/sudo-i as installed (None: none), read in setup()
SUDO_VERSION = None  # (1, 9, 13): `sudo -V`, read in setup()
SUDO_I = "sudo-i"  # the PAM service of `sudo -i` (sudo -V); Debian 11's sudo 1.9.5 uses sudo

procs = []
syslog = []  # (monotonic time, text) of every datagram sent to /dev/log


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


def status_of(pbm_id):
    msgs = messages_for(pbm_id)
    return msgs[-1]["recipients"][0]["status"] if msgs else None


def polled(pbm_id):
    """The module has polled its latest message at least once: it is in its wait loop."""
    msgs = messages_for(pbm_id)
    return bool(msgs) and msgs[-1]["requests"]["track"] >= 1


def wait_for(what, cond, limit=10.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


def logged(service, since, *words, limit=3.0):
    """The module's decision line for `service` logged after `since` holding every word."""
    prefix = f"pam_passbyme({service}:auth): "

    def find():
        for t, line in list(syslog):
            if t >= since and prefix in line and all(w in line for w in words):
                return line[line.index(prefix):]
        return None
    try:
        return wait_for(f"a log line {prefix}{' … '.join(words)}", find, limit)
    except AssertionError:
        ours = [l for t, l in syslog if t >= since and "pam_passbyme" in l]
        raise AssertionError(f"no log line {prefix}… with {words}; module lines: {ours}") from None


# --------------------------------------------------------------------------------------
# The private world


def private_dev():
    """A tmpfs /dev with the usual nodes bound from the real one, and /dev/log ours."""
    os.makedirs(f"{W}/olddev")
    sh("mount", "--bind", "/dev", f"{W}/olddev")
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", "/dev")
    for n in ("null", "zero", "full", "random", "urandom", "tty"):
        if os.path.exists(f"{W}/olddev/{n}"):
            open(f"/dev/{n}", "w").close()
            sh("mount", "--bind", f"{W}/olddev/{n}", f"/dev/{n}")
    os.makedirs("/dev/shm")
    sh("mount", "--bind", f"{W}/olddev/shm", "/dev/shm")
    # A new devpts instance of our own (a bound /dev/ptmx would not find it): the ssh and
    # sudo terminals, and sudo's own use_pty terminal, live there.
    os.makedirs("/dev/pts")
    sh("mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts", "/dev/pts")
    os.symlink("pts/ptmx", "/dev/ptmx")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/dev/log")
    os.chmod("/dev/log", 0o666)  # sudo's and sshd's unprivileged children log too

    def reader():
        while True:
            data = sock.recv(65536)
            syslog.append((time.monotonic(), data.decode(errors="replace")))
    threading.Thread(target=reader, daemon=True).start()


def setup():
    sh("ip", "link", "set", "lo", "up")
    sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
    os.makedirs("/run/sshd", mode=0o755)
    os.makedirs(W)
    private_dev()
    # A private /etc: /etc/pam.d, passwd, shadow, group, gshadow, sudoers.d and passbyme
    # below are the copy's; nothing written reaches the host.
    sh("cp", "-a", "/etc", f"{W}/etc")
    sh("mount", "--bind", f"{W}/etc", "/etc")
    # Empty login records, with the real files' owner and mode (sshd refuses to write a
    # btmp readable by others).
    for log in ("wtmp", "btmp", "lastlog"):
        real = f"/var/log/{log}"
        if os.path.exists(real):
            st = os.stat(real)
            write(f"{W}/{log}", "", st.st_mode & 0o7777)
            os.chown(f"{W}/{log}", st.st_uid, st.st_gid)
            sh("mount", "--bind", f"{W}/{log}", real)
    # The module where libpam looks for it, in a private copy of the module directory.
    sh("cp", "-a", SECURITY, f"{W}/security")
    shutil.copy(SO, f"{W}/security/pam_passbyme.so")
    os.chmod(f"{W}/security/pam_passbyme.so", 0o644)
    sh("mount", "--bind", f"{W}/security", SECURITY)
    # Test users exist only in the private user database, each with the same password
    # (sudo's stack asks for it first) and the same SSH key.
    pwhash = sh("openssl", "passwd", "-6", "-salt", "e2esalt", PASSWORD).stdout.strip()
    os.makedirs(f"{W}/keys")
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{W}/client_key")
    pub = open(f"{W}/client_key.pub").read()
    with open("/etc/passwd", "a") as pw, open("/etc/shadow", "a") as sd, \
            open("/etc/group", "a") as gr, open("/etc/gshadow", "a") as gs:
        for user in UNIX_USERS:
            uid = uid_of(user)
            home = f"{W}/home/{user}"
            os.makedirs(home)
            os.chown(home, uid, uid)
            pw.write(f"{user}:x:{uid}:{uid}::{home}:/bin/sh\n")
            sd.write(f"{user}:{pwhash}:19000:0:99999:7:::\n")
            gr.write(f"{user}:x:{uid}:\n")
            gs.write(f"{user}:!::\n")
            write(f"{W}/keys/{user}", pub)
    # noninteractive_auth came with sudo 1.9.9 (Debian 12); Debian 11's sudo refuses the
    # entry, and `sudo -n` never runs PAM there.
    global SUDO_VERSION
    m = re.search(r"Sudo version (\d+)\.(\d+)\.(\d+)", sh("sudo", "-V").stdout)
    SUDO_VERSION = tuple(int(x) for x in m.groups())
    write("/etc/sudoers.d/pbm-e2e",
          "Defaults timestamp_timeout=0, !lecture\n"
          "User_Alias PBM_N = pbm_n, pbm_n2, pbm_n3\n"
          + ("Defaults:PBM_N noninteractive_auth\n" if SUDO_VERSION >= (1, 9, 9) else "")
          + "".join(f"{u} ALL=(ALL) ALL\n" for u in UNIX_USERS), 0o440)
    # The shipped pam.d files, byte for byte (sudo -i runs through sudo-i: Debian's stock
    # one, kept for the case that shows why the sample exists, includes only common-auth).
    global STOCK_SUDO_I, SUDO_I
    if os.path.exists("/etc/pam.d/sudo-i"):
        STOCK_SUDO_I = open("/etc/pam.d/sudo-i").read()
    m = re.search(r"(?m)^PAM service name to use for login shells: (\S+)$", sh("sudo", "-V").stdout)
    SUDO_I = m.group(1) if m else "sudo"
    shutil.copy(f"{ROOT}/pam.d/sshd", "/etc/pam.d/sshd")
    shutil.copy(f"{ROOT}/pam.d/sudo", "/etc/pam.d/sudo")
    shutil.copy(f"{ROOT}/pam.d/sudo-i", "/etc/pam.d/sudo-i")
    shutil.copy(f"{ROOT}/pam.d/su", "/etc/pam.d/su")
    # The emulator, inside the private network. Untagged IDs are never answered.
    emu = subprocess.Popen([EXE, "emulator", "--listen", API, "--admin", f"{HOST}:9000",
                            "--state-dir", f"{W}/emu", "--answer", "ignore"],
                           stdout=subprocess.PIPE, stderr=open(f"{W}/emulator.log", "w"), text=True)
    procs.append(emu)
    line = emu.stdout.readline()
    assert line.startswith("listening on"), line
    os.makedirs("/etc/passbyme", mode=0o755, exist_ok=True)
    write("/etc/passbyme/passbyme.toml", config(), 0o600)
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{W}/hostkey")
    # OpenSSH before 8.7 (Debian 11, run by tests/distro/) runs PAM through
    # keyboard-interactive only with ChallengeResponseAuthentication yes, as README says.
    challenge = "ChallengeResponseAuthentication yes\n" if sshd_version() < (8, 7) else ""
    # OpenSSH 9.8+ penalises a source address for failed logins and then refuses its
    # connections ("kex_exchange_identification: Connection closed"): these tests fail
    # logins from 127.0.0.1 on purpose, many in a row.
    if sshd_version() >= (9, 8):
        challenge += "PerSourcePenalties no\n"
    for port, grace in ((2222, 30), (2223, GRACE_SHORT)):
        write(f"{W}/sshd_config_{port}", f"""
Port {port}
ListenAddress {HOST}
HostKey {W}/hostkey
PidFile {W}/sshd_{port}.pid
UsePAM yes
KbdInteractiveAuthentication yes
{challenge}PasswordAuthentication no
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


def sshd_version(program="/usr/sbin/sshd"):
    """(major, minor) of an sshd: `sshd -V`, or the usage text of one without -V (< 9.1)."""
    r = subprocess.run([program, "-V"], capture_output=True, text=True)
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", r.stderr + r.stdout)
    assert m, f"no OpenSSH version from {program} -V: {r.stderr!r}"
    return int(m.group(1)), int(m.group(2))


def config(policy="", limits="", messages="", address=API):
    users = "".join(f'{u} = "{i}"\n' for u, i in USERS.items())
    return f"""
[service]
address = "{address}"
credentials = "{W}/emu/client.pem"
password_file = "{W}/emu/client.password"
ca_bundle = "{W}/emu/ca.pem"

[login]
timeout = "{TIMEOUT}s"
poll_interval = "500ms"
poll_interval_seen = "200ms"

[policy]
{policy}

[limits]
max_pushes = 100
grace = "1m"
{limits}

[messages]
{messages}

[users]
{users}"""


def uid_of(user):
    return 42000 + UNIX_USERS.index(user)


class Pty:
    """A program on a pseudo-terminal (its controlling terminal), with what it printed."""

    def __init__(self, argv, uid=None, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.environ.update(env or {})
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

    def tail(self):
        return repr(self.out[-300:])

    def expect(self, needle, limit):
        """Waits for `needle` on the terminal; returns when it appeared."""
        t = self.read_until(needle, limit)
        if t is None:
            raise AssertionError(f"ended without printing {needle!r}; terminal: {self.tail()}")
        return t

    def succeeds(self, limit=30):
        st = self.wait(limit)
        if st != 0:
            raise AssertionError(f"exit status {st}, expected 0; terminal: {self.tail()}")

    def fails(self, limit=30):
        st = self.wait(limit)
        if st == 0:
            raise AssertionError(f"exit status 0 (let in), expected a refusal; terminal: {self.tail()}")

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


def ssh(user, port=2222, preferred=True, env=None):
    # PreferredAuthentications is what the README recommends to users: after a refusal
    # sshd disables keyboard-interactive for the connection (the module returns
    # PAM_MAXTRIES), and a client left to its defaults then asks for a password the server
    # will not take (sshd_deny_default_client).
    pref = ["-o", "PreferredAuthentications=publickey,keyboard-interactive"] if preferred else []
    return Pty(["/usr/bin/ssh", "-F", "/dev/null", "-p", str(port), "-i", f"{W}/client_key", *pref,
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={W}/known_hosts",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=5",
                f"{user}@{HOST}", "echo E2E-OK-$(id -un)"], env=env)


def sudo(user, *args, env=None):
    return Pty(["/usr/bin/sudo", "-k", "-p", "PWPROMPT:", *args, "/usr/bin/id", "-un"], uid=uid_of(user),
               env=env)


def su(user, target=SU_TARGET):
    """The real set-uid `su` run by the unprivileged `user`, on a terminal."""
    return Pty(["/usr/bin/su", "-c", "/usr/bin/id -un", target], uid=uid_of(user))


def with_pamd_sudo(edit, body):
    """Runs body() with /etc/pam.d/sudo = the shipped file changed by edit(text)."""
    write("/etc/pam.d/sudo", edit(open(f"{ROOT}/pam.d/sudo").read()))
    try:
        return body()
    finally:
        shutil.copy(f"{ROOT}/pam.d/sudo", "/etc/pam.d/sudo")


def push_only(prompt):
    """The push-only sudo variant the shipped file documents: no common-auth."""
    def edit(text):
        text = re.sub(r"(?m)^@include common-auth$", "# (push only: no password)", text)
        line = r"(?m)^(auth .*pam_passbyme\.so.*)prompt=info"
        assert re.search(line, text), "the shipped pam.d/sudo has no prompt=info on the module line"
        return re.sub(line, rf"\1prompt={prompt}", text)
    return edit


# --------------------------------------------------------------------------------------
# The cases. Each returns a short detail string or raises AssertionError.

PROMPT = "Press Enter once you have approved"


def sshd_approve():
    t = time.monotonic()
    p = ssh("pbm_ok")
    p.expect(PROMPT, 15)
    assert re.search(r"Verification code: \d\d", p.out), f"no verification code shown: {p.tail()}"
    p.send("\n")
    p.succeeds()
    assert "E2E-OK-pbm_ok" in p.out, f"no remote command output; terminal: {p.tail()}"
    logged("sshd", t, "decision=approved user=pbm_ok", "service=sshd rhost=127.0.0.1",
           "settled=final")
    return "remote command ran; decision=approved logged"


def sshd_deny():
    t = time.monotonic()
    p = ssh("pbm_deny")
    p.expect(PROMPT, 15)
    p.send("\n")
    p.fails()
    assert "E2E-OK" not in p.out and "Permission denied" in p.out, f"not refused: {p.tail()}"
    assert status_of(USERS["pbm_deny"]) == "DENIED", f"emulator status {status_of(USERS['pbm_deny'])}"
    logged("sshd", t, "decision=refused user=pbm_deny", "status=DENIED")
    return "refused; decision=refused status=DENIED logged"


def sshd_deny_default_client():
    # A client with default settings: after the denial it asks for a password (its own
    # fallback); whatever is typed, the server refuses and sends no second push.
    before = len(messages_for(USERS["pbm_deny"]))
    p = ssh("pbm_deny", preferred=False)
    p.expect(PROMPT, 15)
    p.send("\n")
    prompts = 0
    while prompts < 5 and p.read_until("password:", 15):
        prompts += 1
        p.out = p.out.replace("password:", "pass-word:")
        p.send("\n")
    p.fails()
    assert "E2E-OK" not in p.out, f"the remote command ran: {p.tail()}"
    assert len(messages_for(USERS["pbm_deny"])) == before + 1, "one push only"
    return f"refused; the client's {prompts} password fallback prompt(s) sent no push"


def sshd_no_answer():
    t = time.monotonic()
    p = ssh("pbm_slow")
    p.expect(PROMPT, 15)
    p.send("\n")
    p.fails(TIMEOUT + 15)
    took = time.monotonic() - t
    assert "E2E-OK" not in p.out, f"the remote command ran: {p.tail()}"
    assert status_of(USERS["pbm_slow"]) == "CANCELLED", f"emulator status {status_of(USERS['pbm_slow'])}, expected CANCELLED"
    # OpenSSH 10.6 (Debian testing) pads the failed request as it pads one that blocks
    # without a prompt (ensure_minimum_time_since: up to double): measured 7.3 s and 9.2 s.
    # The module's deadline is what the log line says.
    most = TIMEOUT + 3 if sshd_version() < (10, 6) else 2 * TIMEOUT + 1
    assert TIMEOUT - 0.5 < took < most, f"refused {took:.1f}s after connecting"
    line = logged("sshd", t, "decision=timeout user=pbm_slow", "settled=cancelled")
    d = float(re.search(r" duration=([\d.]+)s ", line).group(1))
    assert TIMEOUT - 0.1 <= d < TIMEOUT + 0.5, line
    return f"refused {took:.1f}s after connecting (deadline {TIMEOUT}s), message CANCELLED"


def sshd_disconnect_at_prompt():
    t = time.monotonic()
    p = ssh("pbm_gone")
    p.expect(PROMPT, 15)
    t0 = time.monotonic()
    p.kill()
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_gone"]) == "CANCELLED", 10)
    took = time.monotonic() - t0
    # sshd SIGTERMs its PAM process at once when the client leaves during a prompt.
    logged("sshd", t, "decision=interrupted user=pbm_gone", "signal=SIGTERM", "settled=cancelled")
    return f"message CANCELLED {took:.1f}s after the client left (SIGTERM during the prompt)"


def sshd_disconnect_while_polling():
    t = time.monotonic()
    p = ssh("pbm_gone2")
    p.expect(PROMPT, 15)
    p.send("\n")
    wait_for("the module to poll", lambda: polled(USERS["pbm_gone2"]))
    t0 = time.monotonic()
    p.kill()
    # Nobody reads the client's socket while the module polls, so sshd does not notice the
    # client leave; the module watches that socket itself (the PAM process inherits it) and
    # cancels as soon as the peer's shutdown shows. The cause is in the decision line:
    # client-gone, not the module's deadline (TIMEOUT after the push).
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_gone2"]) == "CANCELLED",
             TIMEOUT + 5)
    took = time.monotonic() - t0
    logged("sshd", t, "decision=client-gone user=pbm_gone2", "peer=",
           'reason="the client closed its connection"', "settled=cancelled")
    return f"message CANCELLED {took:.2f}s after the client left (the module saw the socket close)"


def sshd_audit_mode():
    # Rolling out (README): the module added in audit mode to a stack that stays as it was
    # (here: Debian's common-auth, the password through keyboard-interactive). It maps and
    # checks, sends nothing, logs what it would have done and returns PAM_IGNORE: both a
    # mapped and an unmapped user log in with their password as before.
    sample = open(f"{ROOT}/pam.d/sshd").read()
    module = r"(?m)^auth \[success=done ignore=ignore default=die\] pam_passbyme\.so.*$"
    deny = r"(?m)^auth requisite pam_deny\.so$"
    assert re.search(module, sample) and re.search(deny, sample), \
        "the shipped pam.d/sshd changed: update this case"
    audit = re.sub(deny, "@include common-auth",
                   re.sub(module, "auth optional pam_passbyme.so mode=audit", sample))
    write("/etc/pam.d/sshd", audit)
    try:
        t = time.monotonic()
        before = len(messages_for(USERS["pbm_slow"]))
        out = []
        for user in ("pbm_slow", UNMAPPED):
            p = ssh(user)
            p.expect("Password:", 15)
            p.send(PASSWORD + "\n")
            p.succeeds()
            assert f"E2E-OK-{user}" in p.out, f"{user}: no remote command output: {p.tail()}"
            out.append(user)
        assert len(messages_for(USERS["pbm_slow"])) == before, "audit mode sent a push"
        logged("sshd", t, "decision=would-push user=pbm_slow", "mode=audit")
        logged("sshd", t, f"decision=would-deny user={UNMAPPED}", "mode=audit",
               "enforce=unmapped", "policy=unmapped:deny")
    finally:
        shutil.copy(f"{ROOT}/pam.d/sshd", "/etc/pam.d/sshd")
    return "key + password logins as before for a mapped and an unmapped user; would-push and would-deny logged, no push"


def sshd_login_grace_time():
    # This sshd has LoginGraceTime below the module's deadline: sshd SIGTERMs the PAM
    # process while the module polls; the module cancels, then dies as sshd expects.
    # OpenSSH 10 (Debian 13 and testing, run by tests/distro/) does so only in some runs,
    # and late: in others the login outlives LoginGraceTime and the module's own deadline
    # refuses it and cancels the push (check --sshd makes LoginGraceTime not above
    # login.timeout CRITICAL). Either way: refused, one push, CANCELLED.
    t = time.monotonic()
    before = len(messages_for(USERS["pbm_slow"]))
    p = ssh("pbm_slow", port=2223)
    p.expect(PROMPT, 15)
    p.send("\n")
    p.fails(20)
    assert "E2E-OK" not in p.out, f"the remote command ran: {p.tail()}"
    assert len(messages_for(USERS["pbm_slow"])) == before + 1, "one push"
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_slow"]) == "CANCELLED", TIMEOUT + 3)
    took = time.monotonic() - t
    if sshd_version() >= (10, 0):
        # Measured on 10.0 and 10.6: SIGTERM at 3.0-4.9 s, or none (then the deadline).
        assert took < TIMEOUT + 3, f"cancelled {took:.1f}s after connecting"
        line = logged("sshd", t, "user=pbm_slow", "settled=cancelled")
        how = re.search(r"decision=(interrupted|timeout) ", line)
        assert how and (how.group(1) == "timeout" or "signal=SIGTERM" in line), line
        return (f"refused and message CANCELLED {took:.1f}s after connecting (LoginGraceTime "
                f"{GRACE_SHORT}s, deadline {TIMEOUT}s): " + ("by SIGTERM" if how.group(1) == "interrupted"
                                                             else "no signal from sshd, by the module's deadline"))
    assert took < TIMEOUT, f"ended after {took:.1f}s: by the module's deadline, not LoginGraceTime"
    logged("sshd", t, "decision=interrupted user=pbm_slow", "signal=SIGTERM", "settled=cancelled")
    return (f"refused and message CANCELLED {took:.1f}s after connecting "
            f"(LoginGraceTime {GRACE_SHORT}s < deadline {TIMEOUT}s; signal=SIGTERM logged)")


def sshd_approval_to_login():
    p = ssh("pbm_man")
    p.expect(PROMPT, 15)
    p.send("\n")  # Enter before approving: the module keeps polling
    # The user unlocks the phone (the emulator shows it SEEN), then approves.
    wait_for("the message to be SEEN", lambda: status_of(USERS["pbm_man"]) == "SEEN")
    msg = messages_for(USERS["pbm_man"])[-1]["messageId"]
    t0 = time.monotonic()
    admin(f"/admin/messages/{msg}/approve", "")
    t1 = p.expect("E2E-OK-pbm_man", 10)
    p.succeeds()
    latency = t1 - t0
    assert latency < 3.0, f"{latency:.2f}s from approval to the remote command"
    return f"approval -> remote command output in {latency * 1000:.0f} ms"


def sshd_grace_period():
    # limits.grace = 1m: a second login from the same host and service needs no push.
    p = ssh("pbm_grace")
    p.expect(PROMPT, 15)
    p.send("\n")
    msg = wait_for("the push", lambda: messages_for(USERS["pbm_grace"]))[-1]["messageId"]
    admin(f"/admin/messages/{msg}/approve", "")
    p.succeeds()
    p = ssh("pbm_grace")
    p.succeeds(15)
    assert "E2E-OK-pbm_grace" in p.out and PROMPT not in p.out, f"prompted again: {p.tail()}"
    assert len(messages_for(USERS["pbm_grace"])) == 1, "a second push was sent"
    return "second login went through without a push"


def sudo_approve():
    t = time.monotonic()
    p = sudo("pbm_sudo")
    p.expect("PWPROMPT:", 10)
    p.send(PASSWORD + "\n")
    p.expect("Verification code", 10)
    shown = time.monotonic() - t
    p.succeeds()
    assert p.out.rstrip().endswith("root"), f"the command did not run as root; terminal: {p.tail()}"
    logged("sudo", t, "decision=approved user=pbm_sudo", "service=sudo rhost=-")
    return f"command ran as root; the code was on the terminal {shown:.1f}s in, before the answer"


def sudo_i_approve():
    # `sudo -i` authenticates through the PAM service sudo-i (sudo -V), not sudo: the
    # shipped sudo-i sample asks the password, then the push. (Debian 11's sudo 1.9.5 runs
    # it through sudo itself: the same push, by the sudo sample.)
    t = time.monotonic()
    p = sudo("pbm_si", "-i")
    p.expect("PWPROMPT:", 10)
    p.send(PASSWORD + "\n")
    p.expect("Verification code", 10)
    p.succeeds()
    assert p.out.rstrip().endswith("root"), f"the login shell did not run as root; terminal: {p.tail()}"
    logged(SUDO_I, t, "decision=approved user=pbm_si", f"service={SUDO_I}")
    return f"sudo -i: the password, the push through the {SUDO_I} service, approved: a root login shell"


def sudo_i_deny():
    t = time.monotonic()
    p = sudo("pbm_sid", "-i")
    p.expect("PWPROMPT:", 10)
    p.send(PASSWORD + "\n")
    p.expect("PassBy[ME]: the login was denied on the phone.", 15)
    # sudo asks again (passwd_tries); wrong passwords end it without another push.
    for _ in range(2):
        p.out = p.out.replace("PWPROMPT:", "pw-prompt:")
        p.expect("PWPROMPT:", 15)
        p.send("wrong\n")
    p.fails()
    assert not p.out.rstrip().endswith("root"), f"sudo -i ran the shell: {p.tail()}"
    assert status_of(USERS["pbm_sid"]) == "DENIED", f"emulator status {status_of(USERS['pbm_sid'])}"
    logged(SUDO_I, t, "decision=refused user=pbm_sid", "status=DENIED")
    return "sudo -i refused: the phone denied"


def sudo_i_debian_stock_bypasses_the_push():
    # Why pam.d/sudo-i is shipped: with Debian's own sudo-i (common-auth only) next to the
    # sudo sample, `sudo -i` is root on the password alone, no push even for a phone that
    # would deny; and `passbyme check --sudo` (the real sudo -V, the real /etc) says so.
    if STOCK_SUDO_I is None:
        # Debian 11's sudo 1.9.5 has no sudo-i service: `sudo -i` runs through sudo, with
        # its push; check --sudo judges that one service, naming both uses.
        assert SUDO_I == "sudo", SUDO_I
        doc = check_sudo_findings()
        services = [f["message"] for f in doc["findings"] if f["id"] == "sudo-services"]
        assert services == ["PAM services judged: sudo (`sudo`, `sudo -i`) "
                            "(as `/usr/bin/sudo -V` says)"], services
        assert not [f for f in doc["findings"] if f["level"] == "CRITICAL"], json.dumps(doc, indent=1)
        return "no sudo-i service (sudo -V): sudo -i runs through sudo; check --sudo names both, no critical"
    assert "pam_passbyme" not in STOCK_SUDO_I, STOCK_SUDO_I
    before = len(messages_for(USERS["pbm_sid"]))
    write("/etc/pam.d/sudo-i", STOCK_SUDO_I)
    try:
        p = sudo("pbm_sid", "-i")
        p.expect("PWPROMPT:", 10)
        p.send(PASSWORD + "\n")
        p.succeeds()
        assert p.out.rstrip().endswith("root"), f"terminal: {p.tail()}"
        assert len(messages_for(USERS["pbm_sid"])) == before, "a push was sent"
        stock = check_sudo_findings()
    finally:
        shutil.copy(f"{ROOT}/pam.d/sudo-i", "/etc/pam.d/sudo-i")
    bypass = [f for f in stock["findings"] if f["id"] == "sudo-service-without-push"]
    assert stock["exit_code"] == 2 and len(bypass) == 1, json.dumps(stock, indent=1)
    assert bypass[0]["file"] == "/etc/pam.d/sudo-i", bypass
    assert bypass[0]["message"].startswith(
        "`sudo -i` authenticates through the PAM service sudo-i, which has no pam_passbyme "
        "while sudo has it"), bypass
    sample = check_sudo_findings()
    assert not [f for f in sample["findings"] if f["id"] == "sudo-service-without-push"
                or f["level"] == "CRITICAL"], json.dumps(sample, indent=1)
    services = [f["message"] for f in sample["findings"] if f["id"] == "sudo-services"]
    assert services == ["PAM services judged: sudo (`sudo`), sudo-i (`sudo -i`) "
                        "(as `/usr/bin/sudo -V` says)"], services
    return ("stock sudo-i: root with no push, and check --sudo CRITICAL naming /etc/pam.d/sudo-i; "
            "with the sample: no critical finding")


def check_sudo_findings():
    """`passbyme check --sudo --json` on this private /etc, with the real sudo -V."""
    r = subprocess.run([EXE, "check", "--sudo", "--json"], capture_output=True, text=True,
                       timeout=30)
    doc = json.loads(r.stdout)
    assert r.returncode == doc["exit_code"], (r.returncode, r.stderr)
    return doc


def su_pushes_to_the_invoker():
    # pbm_su (unprivileged) runs the real set-uid su to become pbm_sutgt, who has no
    # mapping: the push goes to pbm_su's phone, saying who wants to become whom.
    t = time.monotonic()
    p = su("pbm_su")
    p.expect("Password:", 10)
    p.send(PASSWORD + "\n")
    p.expect("Verification code", 10)
    p.succeeds()
    assert p.out.rstrip().endswith(SU_TARGET), f"the command did not run as {SU_TARGET}: {p.tail()}"
    line = logged("su", t, "decision=approved user=pbm_su ids=" + USERS["pbm_su"],
                  f"target={SU_TARGET}")
    m = messages_for(USERS["pbm_su"])[-1]
    want = f"pbm_su wants to become {SU_TARGET} on "
    assert want in m["subject"], f"subject: {m['subject']!r}"
    assert f"Becomes: {SU_TARGET}" in m["body"], f"body: {m['body']!r}"
    return f"push to the invoker's phone ({m['subject']!r}); logged {line[line.index('decision'):][:60]}…"


def su_invoker_denied():
    t = time.monotonic()
    p = su("pbm_sudn")
    p.expect("Password:", 10)
    p.send(PASSWORD + "\n")
    p.expect("Verification code", 10)
    p.fails()
    assert not p.out.rstrip().endswith(SU_TARGET), f"su ran the command: {p.tail()}"
    # su prints the outcome line at once, as sudo does.
    assert "PassBy[ME]: the login was denied on the phone." in p.out, f"no denial line: {p.tail()}"
    logged("su", t, "decision=refused user=pbm_sudn", "status=DENIED", f"target={SU_TARGET}")
    return "the invoker's phone denied: su refused"


def sudo_deny():
    t = time.monotonic()
    before = len(messages_for(USERS["pbm_sdeny"]))
    p = sudo("pbm_sdeny")
    p.expect("PWPROMPT:", 10)
    p.send(PASSWORD + "\n")
    # sudo treats any failure as a wrong password and asks again (passwd_tries = 3). The
    # right password again gets the answer already given (one push per PAM transaction);
    # a wrong one is refused by pam_unix before the module runs.
    for answer in (PASSWORD, "wrong"):
        p.out = p.out.replace("PWPROMPT:", "pw-prompt:")
        p.expect("PWPROMPT:", 15)
        p.send(answer + "\n")
    p.fails()
    assert "Sorry, try again." in p.out and not p.out.rstrip().endswith("root"), f"terminal: {p.tail()}"
    assert status_of(USERS["pbm_sdeny"]) == "DENIED", f"emulator status {status_of(USERS['pbm_sdeny'])}"
    assert len(messages_for(USERS["pbm_sdeny"])) == before + 1, "a second push was sent"
    logged("sudo", t, "decision=refused user=pbm_sdeny", "status=DENIED")
    logged("sudo", t, "decision=repeat user=pbm_sdeny")
    return "refused; sudo asked again, the right password got the same answer, no second push"


def sudo_wrong_password_sends_no_push():
    p = sudo("pbm_sdeny")
    before = len(messages_for(USERS["pbm_sdeny"]))
    for _ in range(3):  # sudo's passwd_tries
        p.expect("PWPROMPT:", 10)
        p.out = p.out.replace("PWPROMPT:", "pw-prompt:")
        p.send("wrong\n")
    p.fails()
    assert len(messages_for(USERS["pbm_sdeny"])) == before, "a push was sent"
    return "refused by the password, no push"


def sudo_ctrl_c():
    t = time.monotonic()
    p = sudo("pbm_ctrlc")
    p.expect("PWPROMPT:", 10)
    p.send(PASSWORD + "\n")
    p.expect("Verification code", 10)
    wait_for("the module to poll", lambda: polled(USERS["pbm_ctrlc"]))
    t0 = time.monotonic()
    p.send("\x03")
    # sudo holds SIGINT while it authenticates; the module sees it pending and cancels.
    wait_for("the message to be cancelled", lambda: status_of(USERS["pbm_ctrlc"]) == "CANCELLED", 5)
    cancelled = time.monotonic() - t0
    st = p.wait(10)
    ended = time.monotonic() - t0
    assert st != 0 and not p.out.rstrip().endswith("root"), f"sudo ran the command: {p.tail()}"
    assert cancelled < 1.5, f"cancelled {cancelled:.2f}s after Ctrl-C"
    logged("sudo", t, "decision=interrupted user=pbm_ctrlc", "signal=SIGINT", "settled=cancelled")
    # sudo itself returns after libpam's failure delay (pam_unix asks for ~2 s, randomised).
    return f"message CANCELLED {cancelled * 1000:.0f} ms after Ctrl-C; sudo exited after {ended:.2f}s"


def sudo_n_with_password_stack():
    # The shipped stack asks for the password first; `sudo -n` (even with
    # noninteractive_auth) cannot, so it is refused before any push.
    before = len(messages_for(USERS["pbm_n"]))
    p = sudo("pbm_n", "-n")
    p.fails(15)
    assert len(messages_for(USERS["pbm_n"])) == before, "a push was sent"
    return "refused without a push (the password cannot be asked)"


def sudo_n_refused_before_pam(user):
    """sudo before 1.9.9 has no noninteractive_auth: `sudo -n` is refused before PAM."""
    before = len(messages_for(USERS[user]))
    p = sudo(user, "-n")
    p.fails(15)
    assert "sudo: a password is required" in p.out, f"terminal: {p.tail()}"
    assert len(messages_for(USERS[user])) == before, "a push was sent"
    return (f"sudo {'.'.join(map(str, SUDO_VERSION))} has no noninteractive_auth: "
            "refused before PAM (a password is required), no push")


def sudo_n_push_only_none():
    # The push-only variant the sample documents: no common-auth, prompt=none, and
    # Defaults noninteractive_auth (for PBM_N) so that sudo -n runs PAM at all.
    if SUDO_VERSION < (1, 9, 9):
        return with_pamd_sudo(push_only("none"), lambda: sudo_n_refused_before_pam("pbm_n"))

    def body():
        p = sudo("pbm_n", "-n")
        p.succeeds(15)
        assert p.out.rstrip().endswith("root"), f"the command did not run as root; terminal: {p.tail()}"
        assert "Verification code" not in p.out, f"prompt=none showed the code: {p.tail()}"
        return p.out
    with_pamd_sudo(push_only("none"), body)
    assert status_of(USERS["pbm_n"]) == "APPROVED", f"emulator status {status_of(USERS['pbm_n'])}"
    return "sudo -n ran the command once the push was approved; nothing shown"


def sudo_n_push_only_info():
    # prompt=info also works with sudo -n: sudo prints the message (not a prompt).
    if SUDO_VERSION < (1, 9, 9):
        return with_pamd_sudo(push_only("info"), lambda: sudo_n_refused_before_pam("pbm_n2"))

    def body():
        p = sudo("pbm_n2", "-n")
        p.succeeds(15)
        assert p.out.rstrip().endswith("root"), f"the command did not run as root; terminal: {p.tail()}"
        assert "Verification code" in p.out, f"prompt=info showed no code: {p.tail()}"
    with_pamd_sudo(push_only("info"), body)
    assert status_of(USERS["pbm_n2"]) == "APPROVED", f"emulator status {status_of(USERS['pbm_n2'])}"
    return "sudo -n showed the code and ran the command"


def sudo_n_push_only_enter_fails():
    # prompt=enter cannot work with sudo -n: sudo refuses every prompt. The push is sent
    # before the prompt, so it must be cancelled, not left on the phone.
    if SUDO_VERSION < (1, 9, 9):
        return with_pamd_sudo(push_only("enter"), lambda: sudo_n_refused_before_pam("pbm_n3"))
    t = time.monotonic()

    def body():
        p = sudo("pbm_n3", "-n")
        p.fails(15)
        assert not p.out.rstrip().endswith("root"), f"the command ran; terminal: {p.tail()}"
    with_pamd_sudo(push_only("enter"), body)
    assert status_of(USERS["pbm_n3"]) == "CANCELLED", f"emulator status {status_of(USERS['pbm_n3'])}, expected CANCELLED"
    logged("sudo", t, "decision=conversation-failed user=pbm_n3", "settled=cancelled")
    return "refused; the push it had sent was CANCELLED (conversation-failed logged)"


# What the person is told (the module's [messages], language = "hu"), measured on the
# terminal of the real programs. The ssh client shows a prompt as it is (UTF-8 on a UTF-8
# terminal), but the messages sshd sends with a refusal go through its log filter, which
# shows every non-ASCII byte as an octal escape in any locale: the module folds the
# outcome line to ASCII for sshd (the *_SSH texts), and shows it as written to sudo.
UTF8 = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
HU = 'language = "hu"'
HU_ENTER = "Ha jóváhagyta, nyomja meg az Entert"
HU_DENIED = "PassBy[ME]: a bejelentkezést a telefonon elutasították. Ha nem Ön próbált belépni, szóljon a rendszergazdának."
HU_TIMEOUT = f"PassBy[ME]: {TIMEOUT} másodpercen belül nem érkezett válasz a telefonról"
HU_LOCKED = "-ig zárolva van. Ha addig is be kell lépnie, forduljon a rendszergazdához."
HU_UNAVAILABLE = "PassBy[ME]: a szolgáltatás nem érhető el"
HU_DENIED_SSH = "PassBy[ME]: a bejelentkezest a telefonon elutasitottak. Ha nem On probalt belepni, szoljon a rendszergazdanak."
HU_TIMEOUT_SSH = f"PassBy[ME]: {TIMEOUT} masodpercen belul nem erkezett valasz a telefonrol"
HU_UNAVAILABLE_SSH = "PassBy[ME]: a szolgaltatas nem erheto el, ezert a bejelentkezest most nem lehet jovahagyni."
HU_LOCKED_SSH = "-ig zarolva van. Ha addig is be kell lepnie, forduljon a rendszergazdahoz."


def no_escapes(p):
    assert not re.search(r"\\[0-3][0-7][0-7]", p.out), f"octal escapes on the terminal: {p.tail()}"


def with_config(body, **kw):
    """Runs body() with /etc/passbyme/passbyme.toml = config(**kw)."""
    write("/etc/passbyme/passbyme.toml", config(**kw), 0o600)
    try:
        return body()
    finally:
        write("/etc/passbyme/passbyme.toml", config(), 0o600)


def sshd_tells_denial_in_hungarian():
    # sshd holds PAM messages back until the next prompt or the end; on a refusal
    # (PAM_MAXTRIES) it sends what it holds as a keyboard-interactive round with no prompt,
    # which the client prints: the denial line reaches the terminal with the refusal.
    def body():
        t = time.monotonic()
        p = ssh("pbm_hud", env=UTF8)
        p.expect(HU_ENTER, 15)
        assert "Ellenőrző kód: " in p.out, f"no code: {p.tail()}"
        p.send("\n")
        p.fails()
        assert HU_DENIED_SSH in p.out, f"no Hungarian denial line: {p.tail()}"
        no_escapes(p)
        logged("sshd", t, "decision=refused user=pbm_hud", "status=DENIED")
    with_config(body, messages=HU)
    return "the Hungarian prompt (UTF-8), then the denial line (in ASCII) with the refusal"


def sshd_tells_timeout_in_hungarian():
    def body():
        t = time.monotonic()
        p = ssh("pbm_hut", env=UTF8)
        p.expect(HU_ENTER, 15)
        p.send("\n")
        p.fails(TIMEOUT + 15)
        assert HU_TIMEOUT_SSH in p.out, f"no Hungarian timeout line: {p.tail()}"
        no_escapes(p)
        logged("sshd", t, "decision=timeout user=pbm_hut")
    with_config(body, messages=HU)
    return "the timeout line reached the terminal with the refusal"


def sshd_tells_lockout_in_hungarian():
    # One denial locks out (for this case only): the next login gets no push and no
    # prompt, only the line saying until when; sshd sends it with the refusal.
    def body():
        t = time.monotonic()
        p = ssh("pbm_hul", env=UTF8)
        p.expect(HU_ENTER, 15)
        p.send("\n")
        p.fails()
        pushes = len(messages_for(USERS["pbm_hul"]))
        p = ssh("pbm_hul", env=UTF8)
        p.fails(15)
        assert HU_LOCKED_SSH in p.out, f"no Hungarian lockout line: {p.tail()}"
        no_escapes(p)
        m = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d( UTC)?)-ig", p.out)
        assert m, f"no time in the lockout line: {p.tail()}"
        assert len(messages_for(USERS["pbm_hul"])) == pushes, "a push was sent while locked out"
        logged("sshd", t, "decision=limited user=pbm_hul", "locked out")
        return m.group(1)
    until = with_config(body, messages=HU, limits='lockout_after = 1\nlockout = "10m"')
    return f"locked out until {until}: shown on the terminal, no push"


def sshd_tells_unavailable_in_hungarian():
    # PAM_AUTHINFO_UNAVAIL (service unreachable, the default policy): sshd passes the line
    # on with the refusal too, with no push and no prompt before it.
    def body():
        t = time.monotonic()
        p = ssh("pbm_hud", env=UTF8)
        p.fails(15)
        assert HU_UNAVAILABLE_SSH in p.out, f"no Hungarian unavailable line: {p.tail()}"
        no_escapes(p)
        logged("sshd", t, "decision=unreachable user=pbm_hud")
    with_config(body, messages=HU, address=f"{HOST}:1")
    return "refused; the unavailable line reached the terminal"


def sudo_tells_denial_in_hungarian():
    # sudo shows conversation messages at once, PAM_SILENT or not.
    def body():
        t = time.monotonic()
        p = sudo("pbm_hus", env=UTF8)
        p.expect("PWPROMPT:", 10)
        p.send(PASSWORD + "\n")
        p.expect("Ellenőrző kód: ", 10)
        p.out = p.out.replace("PWPROMPT:", "pw-prompt:")
        p.expect(HU_DENIED, 15)
        # sudo asks again (passwd_tries); the same answer comes again without a push.
        p.expect("PWPROMPT:", 15)
        p.kill()
        logged("sudo", t, "decision=refused user=pbm_hus", "status=DENIED")
    with_config(body, messages=HU)
    return "the code, then the Hungarian denial line, before sudo asked again"


def sudo_tells_lockout_and_unavailable_in_hungarian():
    def locked():
        p = sudo("pbm_husl", env=UTF8)
        p.expect("PWPROMPT:", 10)
        p.send(PASSWORD + "\n")
        p.expect(HU_DENIED, 15)
        p.kill()
        t = time.monotonic()
        p = sudo("pbm_husl", env=UTF8)
        p.expect("PWPROMPT:", 10)
        p.send(PASSWORD + "\n")
        p.expect(HU_LOCKED, 15)
        p.kill()
        logged("sudo", t, "decision=limited user=pbm_husl", "locked out")
    # sudo's source is the terminal, new for each run: lock out the user from every source.
    with_config(locked, messages=HU,
                limits='lockout_after = 1\nlockout_after_user = 1\nlockout = "10m"')

    def down():
        p = sudo("pbm_hus", env=UTF8)
        p.expect("PWPROMPT:", 10)
        p.send(PASSWORD + "\n")
        p.expect(HU_UNAVAILABLE, 15)
        p.kill()
    with_config(down, messages=HU, address=f"{HOST}:1")
    return "lockout (with its time) and unavailable lines shown at once"


def pamtester(service, user, stdin, want):
    """pamtester SERVICE USER authenticate; want = True (let in) or False (refused)."""
    r = subprocess.run(["pamtester", service, user, "authenticate"], input=stdin,
                       capture_output=True, text=True, timeout=30)
    ok = r.returncode == 0 and "successfully authenticated" in r.stdout
    if ok != want:
        raise AssertionError(f"pamtester {service} {user}: {'let in' if ok else 'refused'}, expected "
                             f"{'let in' if want else 'refused'}: {(r.stdout + r.stderr).strip()!r}")


def pamtester_shipped_files():
    pamtester("sshd", "pbm_pt", "\n", True)
    pamtester("sshd", "pbm_ptd", "\n", False)
    pamtester("sudo", "pbm_pt", PASSWORD + "\n", True)
    pamtester("sudo", "pbm_ptd", PASSWORD + "\n", False)
    pamtester("sudo", "pbm_pt", "wrong\n", False)
    return "sshd and sudo stacks: approve passes, deny fails, a wrong password fails"


def pamtester_unmapped_user():
    # What the shipped files do with a user the module steps aside for (PAM_IGNORE):
    # sshd's stack ends in pam_deny (refused), sudo's falls back to the password alone.
    t = time.monotonic()
    n = len(admin("/admin/messages"))
    try:
        pamtester("sudo", UNMAPPED, PASSWORD + "\n", False)
        logged("sudo", t, f"decision=unmapped user={UNMAPPED}", "policy=unmapped:deny")
        write("/etc/passbyme/passbyme.toml", config('unmapped = "ignore"'), 0o600)
        pamtester("sudo", UNMAPPED, PASSWORD + "\n", True)
        pamtester("sshd", UNMAPPED, "\n", False)
        logged("sshd", t, f"decision=unmapped user={UNMAPPED}", "policy=unmapped:ignore")
        # Why pam_deny closes sshd's stack: without it, any "auth optional" line would
        # decide alone (here pam_permit in its place lets the user in).
        sshd = open(f"{ROOT}/pam.d/sshd").read()
        assert re.search(r"(?m)^auth requisite pam_deny\.so$", sshd), "pam.d/sshd has no pam_deny line"
        write("/etc/pam.d/pbm-nodeny",
              re.sub(r"(?m)^auth requisite pam_deny\.so$", "auth optional pam_permit.so", sshd))
        pamtester("pbm-nodeny", UNMAPPED, "\n", True)
        # The push-only sudo variant refuses a user the module steps aside for.
        write("/etc/pam.d/pbm-pushonly", push_only("none")(open(f"{ROOT}/pam.d/sudo").read()))
        pamtester("pbm-pushonly", UNMAPPED, "", False)
    finally:
        write("/etc/passbyme/passbyme.toml", config(), 0o600)
    assert len(admin("/admin/messages")) == n, "no push for an unmapped user"
    return ("deny: refused; ignore: sudo on the password alone, sshd refused by pam_deny "
            "(with an optional line in its place: let in); push-only sudo refused; no push")


def nothing_left_pending():
    def still_open():
        return [m["messageId"] + ":" + m["recipients"][0]["userId"] + ":" + m["recipients"][0]["status"]
                for m in admin("/admin/messages")
                if m["recipients"][0]["status"] in ("PENDING", "NOTIFIED", "DOWNLOADED", "SEEN")]
    msgs = admin("/admin/messages")
    assert msgs, "the emulator has no message at all"
    # The last logins may still be cancelling their messages: wait for that, bounded.
    try:
        wait_for("every message to be final", lambda: not still_open())
    except AssertionError:
        raise AssertionError(f"left open: {still_open()}")
    return f"{len(msgs)} messages, none left open"


def log_lines_well_formed():
    lines = [l for _, l in syslog if "pam_passbyme" in l]
    assert lines, "the module logged nothing"
    bad = [l for l in lines if not re.match(
        r"<8[0-7]>\w{3} [ \d]\d \d\d:\d\d:\d\d (sshd|sshd-session|sudo|su|pamtester)(\[\d+\])?: "
        r"pam_passbyme\([\w.-]+:auth\): decision=[a-z-]+ user=\S+ ", l)]
    assert not bad, bad
    return f"{len(lines)} lines, facility authpriv, prefix pam_passbyme(SERVICE:auth):"


CASES = [sshd_approve, sshd_deny, sshd_deny_default_client, sshd_no_answer,
         sshd_disconnect_at_prompt, sshd_disconnect_while_polling, sshd_login_grace_time,
         sshd_approval_to_login, sshd_grace_period, sshd_audit_mode, sudo_approve, sudo_deny,
         sudo_wrong_password_sends_no_push, sudo_ctrl_c, sudo_i_approve, sudo_i_deny,
         sudo_i_debian_stock_bypasses_the_push, su_pushes_to_the_invoker,
         su_invoker_denied, sudo_n_with_password_stack,
         sshd_tells_denial_in_hungarian, sshd_tells_timeout_in_hungarian,
         sshd_tells_lockout_in_hungarian, sshd_tells_unavailable_in_hungarian,
         sudo_tells_denial_in_hungarian, sudo_tells_lockout_and_unavailable_in_hungarian,
         sudo_n_push_only_none, sudo_n_push_only_info, sudo_n_push_only_enter_fails,
         pamtester_shipped_files, pamtester_unmapped_user, nothing_left_pending,
         log_lines_well_formed]


def one_line(e):
    s = str(e) or type(e).__name__
    return " ".join(s.split())[:600]


def main():
    passed = failed = 0
    try:
        setup()
    except Exception as e:  # noqa: BLE001 - reported as one failed case
        traceback.print_exc()
        print(f"FAIL setup: {one_line(e)}", flush=True)
        failed = 1
    if not failed:
        only = os.environ.get("PBM_E2E_ONLY")  # e.g. PBM_E2E_ONLY=sudo_ctrl_c,sshd_deny
        for case in CASES:
            if only and case.__name__ not in only.split(","):
                continue
            t0 = time.monotonic()
            try:
                detail = case()
                passed += 1
                print(f"ok  {case.__name__} ({time.monotonic() - t0:.1f}s): {detail}", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported, then the next case
                failed += 1
                print(f"FAIL {case.__name__}: {one_line(e)} (after {time.monotonic() - t0:.1f}s)",
                      flush=True)
    for p in procs:
        p.terminate()
    if failed:
        for log in ("sshd_2222.log", "sshd_2223.log", "emulator.log"):
            if os.path.exists(f"{W}/{log}"):
                print(f"--- {log} (tail)")
                print("".join(open(f"{W}/{log}").readlines()[-25:]))
        print("--- syslog (pam_passbyme lines)")
        print("\n".join(l for _, l in syslog if "pam_passbyme" in l))
    try:
        with os.fdopen(3, "w") as counts:
            counts.write(f"{passed} {failed}\n")
    except OSError:  # run by hand, without run.sh's fd 3
        print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
