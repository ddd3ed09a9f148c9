#!/bin/sh
# The SELinux policy module (packaging/selinux/passbyme.te, .fc, .if): built with the
# reference policy's Makefile (selinux-policy-dev), converted to the CIL the packages ship
# (packaging/selinux/passbyme.cil must be exactly that; `sh tests/packaging/selinux.sh
# --update` rewrites it), then loaded with semodule into a PRIVATE copy of the installed
# policy store (selinux-policy-default; semodule -p, nothing of the host's policy changes),
# and the resulting kernel policy inspected with sesearch: each access pam_passbyme needs is
# allowed to each login domain, and every rule the module adds is one of those (no
# unconfined, no port attribute, no other domain, no other type). The optional block for
# RHEL 10's sshd_session_t is shown to switch on with a stand-in type. Removal leaves the
# policy without the module's types.
#
# What this cannot show: enforcement. This kernel has no SELinux, so no login is run under
# the policy; the rules are checked as rules. Needs root (only for the store copy's
# ownership) and: selinux-policy-dev selinux-policy-default semodule-utils policycoreutils
# setools (tests/packaging/run.sh installs them).
# Prints one line per check and ends with "N passed, M failed"; exits non-zero on failure.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { desc=$1; shift; if "$@" >/dev/null 2>&1; then ok "$desc"; else bad "$desc"; fi; }
note() { echo "     $*"; }

scratch=$(mktemp -d "$top/target/selinux.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$scratch"' EXIT

# --- build: the reference policy's Makefile, then the CIL that ships -----------------------
cp packaging/selinux/passbyme.te packaging/selinux/passbyme.fc packaging/selinux/passbyme.if "$scratch/"
if (cd "$scratch" && make -f /usr/share/selinux/devel/Makefile passbyme.pp) >"$scratch/build.log" 2>&1; then
    ok "selinux: passbyme.pp builds with /usr/share/selinux/devel/Makefile"
else
    bad "selinux: passbyme.pp builds with /usr/share/selinux/devel/Makefile"; sed 's/^/     /' "$scratch/build.log"
    echo "$pass passed, $fail failed"; exit 1
fi
/usr/libexec/selinux/hll/pp "$scratch/passbyme.pp" "$scratch/passbyme.cil"
if [ "${1:-}" = --update ]; then
    cp "$scratch/passbyme.cil" packaging/selinux/passbyme.cil
    echo "wrote packaging/selinux/passbyme.cil"; exit 0
fi
if cmp -s "$scratch/passbyme.cil" packaging/selinux/passbyme.cil; then
    ok "selinux: packaging/selinux/passbyme.cil is what passbyme.te builds to"
else
    bad "selinux: packaging/selinux/passbyme.cil is stale (sh tests/packaging/selinux.sh --update)"
    diff "$scratch/passbyme.cil" packaging/selinux/passbyme.cil | head -20 | sed 's/^/     /'
fi
cil="$top/packaging/selinux/passbyme.cil"
check "selinux: the CIL names no unconfined type and no port attribute or wildcard" \
    sh -c "! grep -v '^(filecon ' '$cil' | grep -Eq 'unconfined|port_type|reserved_port|[(]all[)]|[*~]'"

# --- a private policy store: a copy of the installed one -----------------------------------
root="$scratch/root"
mkdir -p "$root/var/lib/selinux" "$root/etc/selinux"
cp -a /var/lib/selinux/default "$root/var/lib/selinux/"
cp -a /etc/selinux/default /etc/selinux/semanage.conf "$root/etc/selinux/"
[ -f /etc/selinux/config ] && cp /etc/selinux/config "$root/etc/selinux/"
pol="$root/etc/selinux/default/policy/policy.33"
[ -f "$pol" ] || pol=$(ls "$root"/etc/selinux/default/policy/policy.* | sort -V | tail -n 1)
cp "$pol" "$scratch/policy.before"
sem() { semodule -n -p "$root" -s default "$@"; }
sem_build() { semodule -p "$root" -s default "$@"; }
rules() { sesearch -A -T "$1" 2>/dev/null | sort; }

if sem_build -X 200 -i "$cil" >"$scratch/load.log" 2>&1; then
    ok "selinux: semodule -i passbyme.cil into a private copy of the policy store (policy rebuilt)"
else
    bad "selinux: semodule -i passbyme.cil into a private store"; sed 's/^/     /' "$scratch/load.log"
    echo "$pass passed, $fail failed"; exit 1
fi
check "selinux: semodule -l lists passbyme" sh -c "semodule -p '$root' -s default -l | grep -qx 'passbyme'"
after="$root/etc/selinux/default/policy/$(basename "$pol")"

# --- each needed access, for each login domain this policy has ------------------------------
domains="sshd_t staff_sudo_t sysadm_sudo_t user_sudo_t staff_su_t sysadm_su_t user_su_t"
for d in $domains; do
    got=$(sesearch -A -T -s "$d" -t 'passbyme_etc_t' "$after"; sesearch -A -T -s "$d" -t passbyme_runtime_t "$after"
          sesearch -A -s "$d" -t http_port_t -c tcp_socket -p name_connect "$after"
          sesearch -T -s "$d" -t var_run_t -c dir "$after" | grep passbyme; true)
    printf '%s\n' "$got" | grep -Fxq "allow $d http_port_t:tcp_socket name_connect;" &&
    printf '%s\n' "$got" | grep -Eq "^allow $d passbyme_etc_t:file \{ getattr ioctl lock open read \};$" &&
    printf '%s\n' "$got" | grep -Eq "^allow $d passbyme_etc_t:dir \{ getattr ioctl lock open read search \};$" &&
    printf '%s\n' "$got" | grep -Eq "^allow $d passbyme_runtime_t:dir \{.* add_name create .*remove_name .*rmdir .*write \};$" &&
    printf '%s\n' "$got" | grep -Eq "^allow $d passbyme_runtime_t:file \{.* create .*lock .*rename .*unlink write \};$" &&
    printf '%s\n' "$got" | grep -Fxq "type_transition $d var_run_t:dir passbyme_runtime_t passbyme;" &&
    rc=0 || rc=1
    if [ "$rc" = 0 ]; then ok "selinux: $d may connect to http_port_t, read /etc/passbyme, manage /run/passbyme (own type by name)"
    else bad "selinux: $d lacks an access"; fi
    printf '%s\n' "$got" | grep -E "$d (http_port_t|passbyme_|var_run_t:dir passbyme)" | sed 's/^/     sesearch: /'
done
check "selinux: systemd-tmpfiles may create and label /run/passbyme (dir only)" sh -c \
    "[ \"\$(sesearch -A -s systemd_tmpfiles_t -t passbyme_runtime_t '$after' | grep ' passbyme_runtime_t:')\" = 'allow systemd_tmpfiles_t passbyme_runtime_t:dir { create getattr open read relabelfrom relabelto search setattr };' ]"
fc="$root/etc/selinux/default/contexts/files/file_contexts"
check "selinux: file contexts /etc/passbyme -> passbyme_etc_t, /run/passbyme -> passbyme_runtime_t" sh -c \
    "grep -Eqx '/etc/passbyme\(/\.\*\)\?[[:space:]]+system_u:object_r:passbyme_etc_t:s0' '$fc' &&
     grep -Eqx '/run/passbyme\(/\.\*\)\?[[:space:]]+system_u:object_r:passbyme_runtime_t:s0' '$fc'"

# --- nothing broader: every rule the module added, by source, target and class -------------
rules "$scratch/policy.before" >"$scratch/rules.before"
rules "$after" >"$scratch/rules.after"
comm -13 "$scratch/rules.before" "$scratch/rules.after" >"$scratch/added"
comm -23 "$scratch/rules.before" "$scratch/rules.after" >"$scratch/removed"
dom_re=$(echo "$domains" | tr ' ' '|')
# Allowed shapes: D D:tcp_socket (its own socket), D http_port_t:tcp_socket name_connect,
# D passbyme_*_t, D var_run_t:dir (add_name in /run), D's type transition in /run, the new
# types' filesystem association, systemd_tmpfiles_t on passbyme_runtime_t.
unexpected=$(grep -Ev "^allow ($dom_re) ($dom_re):tcp_socket \{ [a-z ]+ \};$|^allow ($dom_re) http_port_t:tcp_socket name_connect;$|^allow ($dom_re) passbyme_(etc|runtime)_t:(dir|file) \{ [a-z_ ]+ \};$|^allow ($dom_re) var_run_t:dir \{ [a-z_ ]+ \};$|^type_transition ($dom_re) var_run_t:dir passbyme_runtime_t passbyme;$|^allow (passbyme_etc_t|passbyme_runtime_t) (passbyme_etc_t|passbyme_runtime_t):filesystem associate;$|^allow systemd_tmpfiles_t passbyme_runtime_t:dir \{ [a-z ]+ \};$" "$scratch/added" || true)
check "selinux: every added rule is one of the needed ones ($(wc -l <"$scratch/added") added, none else)" test -z "$unexpected"
[ -z "$unexpected" ] || printf '%s\n' "$unexpected" | sed 's/^/     unexpected: /'
# A rule of the base policy may reappear merged with the module's for the same source,
# target and class (sesearch shows the merged permission set): it must then only have
# grown, by permissions that the added-rules check above accepted.
lost=$(/usr/bin/python3 - "$scratch/removed" "$scratch/added" <<'PY'
import re, sys
def parse(path):
    out = {}
    for line in open(path):
        m = re.match(r"^(allow \S+ \S+) (?:\{ ([^}]*) \}|(\S+));(.*)$", line.strip())
        if m:
            out.setdefault((m.group(1), m.group(4)), set()).update((m.group(2) or m.group(3)).split())
        elif line.strip():
            out.setdefault((line.strip(), ""), set())
    return out
removed, added = parse(sys.argv[1]), parse(sys.argv[2])
for key, perms in removed.items():
    if key not in added or not perms <= added[key]:
        print(key[0], sorted(perms))
PY
)
check "selinux: no rule of the base policy lost (only merged into a superset: $(wc -l <"$scratch/removed") such)" test -z "$lost"
[ -z "$lost" ] || printf '%s\n' "$lost" | sed 's/^/     lost: /'
check "selinux: no added rule names unconfined, a port attribute or a wildcard" sh -c \
    "! grep -Eq 'unconfined|port_type|reserved_port|[*~]' '$scratch/added'"
check "selinux: the socket rules add no listen, accept or bind" sh -c \
    "! grep -E ':tcp_socket' '$scratch/added' | grep -Eq ' (listen|accept|bind|name_bind) '"
check "selinux: var_run_t gains only add_name/write (no create: other names keep var_run_t's rules)" sh -c \
    "! grep -E ' var_run_t:dir' '$scratch/added' | grep -Eq ' (create|remove_name|rmdir|unlink|rename|setattr) '"
readers=$(sesearch -A -t passbyme_etc_t -c file -p read "$after" | grep -Ev '^allow [a-z_]+ (file_type|non_security_file_type)[: ]' | awk '{print $2}' | sort -u | tr '\n' ' ')
check "selinux: the only rules naming passbyme_etc_t for reading are the login domains' (others: generic file_type rules of admin/backup domains)" \
    test "$readers" = "$(echo "$domains" | tr ' ' '\n' | sort | tr '\n' ' ')"
note "readers of passbyme_etc_t by name: $readers"
check "selinux: sshd_session_t unknown to this policy: its optional block stays off" sh -c \
    "! seinfo -t sshd_session_t '$after' 2>/dev/null | grep -q 'sshd_session_t'"

# --- RHEL 10: with sshd_session_t present, its block switches on -----------------------------
if sem_build -X 200 -i tests/packaging/fake-sshd-session.cil >"$scratch/fake.log" 2>&1; then
    after10="$root/etc/selinux/default/policy/$(basename "$pol")"
    check "selinux: with a stand-in sshd_session_t, it gets the same accesses (RHEL 10's sshd-session)" sh -c \
        "sesearch -A -s sshd_session_t -t http_port_t -c tcp_socket -p name_connect '$after10' | grep -Fxq 'allow sshd_session_t http_port_t:tcp_socket name_connect;' &&
         sesearch -A -s sshd_session_t -t passbyme_runtime_t -c file '$after10' | grep -q 'create' &&
         sesearch -T -s sshd_session_t -t var_run_t '$after10' | grep -Fxq 'type_transition sshd_session_t var_run_t:dir passbyme_runtime_t passbyme;'"
else
    bad "selinux: loading the stand-in sshd_session_t"; sed 's/^/     /' "$scratch/fake.log"
fi

# --- removal ---------------------------------------------------------------------------------
check "selinux: semodule -r passbyme (and the stand-in)" sem_build -X 200 -r passbyme -r fake-sshd-session
final="$root/etc/selinux/default/policy/$(basename "$pol")"
check "selinux: after removal the policy has no passbyme type and no passbyme file context" sh -c \
    "! seinfo -t '$final' 2>/dev/null | grep -q passbyme && ! grep -q passbyme '$fc'"
check "selinux: after removal the rules are the base policy's again" sh -c \
    "sesearch -A -T '$final' 2>/dev/null | sort | cmp -s - '$scratch/rules.before'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
