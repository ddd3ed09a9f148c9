//! The few things the login needs from the operating system, through libc: identity,
//! host name, group membership, and signals during the wait.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The real user id: with a set-uid program (`su`), who runs it.
pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// The name the user database gives to `uid` (`getpwuid_r`); `Ok(None)` if none.
pub fn user_name_of(uid: u32) -> Result<Option<String>, LookupError> {
    Ok(passwd_entry(PasswdKey::Uid(uid))?.map(|a| a.name))
}

/// This machine's host name (`?` if it cannot be read).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // unless truncated, which the last byte guards against.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return "?".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len() - 1);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A user account as the user database (NSS) knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The canonical name (`pw_name`): what NSS calls the user, whatever spelling was
    /// looked up (SSSD's AD provider, for one, matches names case-insensitively).
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The GECOS field (`pw_gecos`); `None` when absent or not UTF-8.
    pub gecos: Option<String>,
}

/// Why a lookup in the user database (NSS) failed. Callers refuse the login on any of them.
#[derive(Debug)]
pub enum LookupError {
    /// `getpwnam_r`/`getpwuid_r` failed (a source is down, …).
    Failed(std::io::Error),
    /// The name has a NUL byte: no C function can look it up.
    NulInName,
    /// The database returned a name that is not UTF-8.
    NameNotUtf8,
    /// The database returned an empty name.
    EmptyName,
    /// The user the groups were asked for is not in the database.
    NoSuchUser,
    /// `getgrouplist` failed.
    GroupList,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::Failed(e) => write!(f, "user database lookup failed: {e}"),
            LookupError::NulInName => f.write_str("user name with a NUL byte"),
            LookupError::NameNotUtf8 => {
                f.write_str("the user database returned a name that is not UTF-8")
            }
            LookupError::EmptyName => f.write_str("the user database returned an empty name"),
            LookupError::NoSuchUser => f.write_str("no such user in the user database"),
            LookupError::GroupList => f.write_str("getgrouplist failed"),
        }
    }
}

impl std::error::Error for LookupError {}

/// Looks `user` up through NSS (`getpwnam_r`). `Ok(None)`: NSS does not know the name;
/// `Err`: the lookup itself failed (a source is down), which callers treat as a refusal.
pub fn lookup_user(user: &str) -> Result<Option<Account>, LookupError> {
    let cuser = CString::new(user).map_err(|_| LookupError::NulInName)?;
    passwd_entry(PasswdKey::Name(&cuser))
}

/// What a passwd lookup is keyed by.
enum PasswdKey<'a> {
    Name(&'a CStr),
    Uid(u32),
}

/// One `getpwnam_r`/`getpwuid_r` lookup, retried with a larger buffer on ERANGE (up to
/// 1 MiB). The name must be non-empty UTF-8.
fn passwd_entry(key: PasswdKey<'_>) -> Result<Option<Account>, LookupError> {
    let mut size = 16 * 1024;
    loop {
        // SAFETY: a zeroed passwd is a valid out-buffer.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buf = vec![0u8; size];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let (b, len) = (buf.as_mut_ptr().cast(), buf.len());
        // SAFETY: all pointers are valid for the call; buf outlives every use of pwd's strings.
        let rc = unsafe {
            match key {
                PasswdKey::Name(name) => {
                    libc::getpwnam_r(name.as_ptr(), &mut pwd, b, len, &mut result)
                }
                PasswdKey::Uid(uid) => libc::getpwuid_r(uid, &mut pwd, b, len, &mut result),
            }
        };
        if rc == libc::ERANGE && size < 1024 * 1024 {
            size *= 4;
            continue;
        }
        if rc != 0 {
            return Err(LookupError::Failed(std::io::Error::from_raw_os_error(rc)));
        }
        if result.is_null() || pwd.pw_name.is_null() {
            return Ok(None);
        }
        // SAFETY: pw_name points into buf, NUL-terminated by NSS.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        let name = name.to_str().map_err(|_| LookupError::NameNotUtf8)?;
        if name.is_empty() {
            return Err(LookupError::EmptyName);
        }
        let gecos = if pwd.pw_gecos.is_null() {
            None
        } else {
            // SAFETY: pw_gecos points into buf, NUL-terminated by NSS.
            let g = unsafe { CStr::from_ptr(pwd.pw_gecos) };
            g.to_str().ok().map(str::to_owned)
        };
        return Ok(Some(Account {
            name: name.to_owned(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            gecos,
        }));
    }
}

/// The names of the groups `user` belongs to (primary and supplementary), through NSS.
pub(crate) fn user_groups(user: &str) -> Result<Vec<String>, LookupError> {
    let cuser = CString::new(user).map_err(|_| LookupError::NulInName)?;
    let account = lookup_user(user)?.ok_or(LookupError::NoSuchUser)?;
    let primary = account.gid;
    let mut n: libc::c_int = 64;
    let mut gids: Vec<libc::gid_t> = vec![0; n as usize];
    loop {
        let mut count = n;
        // SAFETY: gids has room for `count` entries; getgrouplist writes at most that many
        // and reports the needed number when it is too small.
        let rc =
            unsafe { libc::getgrouplist(cuser.as_ptr(), primary, gids.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            gids.truncate(count as usize);
            break;
        }
        if count <= n || count > 65536 {
            return Err(LookupError::GroupList);
        }
        n = count;
        gids.resize(n as usize, 0);
    }
    let mut names = Vec::with_capacity(gids.len());
    for gid in gids {
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut gbuf = vec![0u8; 64 * 1024];
        let mut gres: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as for getpwnam_r.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                &mut grp,
                gbuf.as_mut_ptr().cast(),
                gbuf.len(),
                &mut gres,
            )
        };
        if rc == 0 && !gres.is_null() {
            // SAFETY: gr_name points into gbuf, NUL-terminated by NSS.
            names.push(
                unsafe { CStr::from_ptr(grp.gr_name) }
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    Ok(names)
}

/// The signals that abandon a login: sshd's SIGTERM (client gone, LoginGraceTime), SIGHUP,
/// and SIGINT (Ctrl-C where the host delivers it).
const SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT];

/// The last signal caught by [`on_signal`].
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// How many signals [`on_signal`] has caught: a guard sees those caught since it was
/// installed, whichever login's guard installed the handlers.
static SEEN: AtomicU64 = AtomicU64::new(0);
/// Up to which count of [`SEEN`] the host has been given its signal back (re-raised), so
/// that a signal is handed back once, however many logins it abandoned.
static HANDED_BACK: AtomicU64 = AtomicU64::new(0);
/// Handlers running now. A wake pipe is closed only once none runs, so a handler never
/// writes to a descriptor number that was closed and reused meanwhile.
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

struct Installed {
    count: usize,
    old: [Option<libc::sigaction>; 3],
}

static INSTALLED: Mutex<Installed> = Mutex::new(Installed {
    count: 0,
    old: [None, None, None],
});

/// The watcher thread's stack: enough for a TLS request (the cancel), whatever the
/// environment says.
const WATCHER_STACK: usize = 1 << 20;

/// Write ends of the pipes of the watchers currently waiting (see [`SignalGuard::during`]);
/// -1 = free slot. A fixed array, because a signal handler may not lock or allocate.
static WAKE: [AtomicI32; 32] = [const { AtomicI32::new(-1) }; 32];

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomics and write(2): async-signal-safe. errno is saved: the handler runs in
    // the middle of whatever the interrupted thread was doing.
    // SAFETY: __errno_location returns this thread's errno.
    let errno = unsafe { *libc::__errno_location() };
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    CAUGHT.store(sig, Ordering::SeqCst);
    SEEN.fetch_add(1, Ordering::SeqCst);
    let byte = sig as u8;
    for slot in &WAKE {
        let fd = slot.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: writing one byte from a valid buffer to a pipe that stays open while
            // IN_HANDLER is non-zero.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// While alive, SIGTERM, SIGHUP and SIGINT only set a flag (unless the host ignores them);
/// the handlers are installed with SA_RESTART, so the host's other threads do not see
/// their system calls fail with EINTR. Dropping the last guard restores the host's
/// handlers and, if a signal arrived, raises it again so the host's own disposition
/// applies once the module has cancelled its message. Shared by concurrent logins in one
/// process: the first installs, the last restores, and a signal abandons every login
/// whose guard was alive when it arrived.
pub struct SignalGuard {
    /// [`SEEN`] when this guard was installed.
    since: u64,
}

impl SignalGuard {
    /// Installs the flag-only handlers.
    pub fn install() -> SignalGuard {
        let mut st = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
        if st.count == 0 {
            for (i, &sig) in SIGNALS.iter().enumerate() {
                // SAFETY: sigaction with valid pointers; a zeroed sigaction is a valid
                // "query" buffer and a valid starting point for a new action.
                unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                        st.old[i] = None;
                        continue;
                    }
                    if old.sa_sigaction == libc::SIG_IGN {
                        st.old[i] = None; // the host ignores it: so do we
                        continue;
                    }
                    let mut new: libc::sigaction = std::mem::zeroed();
                    new.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                    libc::sigemptyset(&mut new.sa_mask);
                    new.sa_flags = libc::SA_RESTART;
                    st.old[i] =
                        (libc::sigaction(sig, &new, std::ptr::null_mut()) == 0).then_some(old);
                }
            }
        }
        st.count += 1;
        SignalGuard {
            since: SEEN.load(Ordering::SeqCst),
        }
    }

    /// Runs `f`, a call that blocks inside the host (the conversation: sshd reads the
    /// client's answer there and retries when a signal interrupts it). If a signal arrives
    /// meanwhile, a helper thread runs `abandon` (to cancel the push), then gives the host
    /// its own disposition of the signal at once (for sshd's PAM process: terminate), as if
    /// the module had not been there. The thread is joined before this returns.
    pub fn during<T>(&self, f: impl FnOnce() -> T, abandon: &(dyn Fn(i32) + Sync)) -> T {
        let mut fds = [-1i32; 2];
        // SAFETY: a valid array for pipe2.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return f(); // no pipe: signals still set the flag the wait loop checks
        }
        let (rfd, wfd) = (fds[0], fds[1]);
        let slot = WAKE.iter().find(|s| {
            s.compare_exchange(-1, wfd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        let out = std::thread::scope(|scope| {
            // A fixed stack: the default comes from RUST_MIN_STACK, which under sudo is the
            // caller's to set (a tiny stack would crash the cancel).
            let watcher = std::thread::Builder::new()
                .name("pam_passbyme-signal".into())
                .stack_size(WATCHER_STACK)
                .spawn_scoped(scope, move || {
                    let mut byte = 0u8;
                    loop {
                        // SAFETY: reading one byte into a valid buffer.
                        let n = unsafe { libc::read(rfd, (&mut byte as *mut u8).cast(), 1) };
                        if n == 1
                            || (n < 0
                                && std::io::Error::last_os_error().kind()
                                    != std::io::ErrorKind::Interrupted)
                        {
                            break;
                        }
                    }
                    if byte != 0 {
                        let sig = i32::from(byte);
                        abandon(sig);
                        restore_now();
                        HANDED_BACK.store(SEEN.load(Ordering::SeqCst), Ordering::SeqCst);
                        // SAFETY: the host's disposition is back; it acts now.
                        unsafe { libc::raise(sig) };
                    }
                })
                .ok();
            if watcher.is_none() {
                // No thread: signals still set the flag that the wait loop checks.
                release(slot);
            } else if let Some(sig) = self.caught() {
                // Caught before the pipe was there (between the push and the prompt): act
                // on it now rather than when the host's prompt returns.
                let byte = sig as u8;
                // SAFETY: one byte to our own pipe.
                unsafe { libc::write(wfd, (&byte as *const u8).cast(), 1) };
            }
            let out = f();
            release(slot);
            if let Some(watcher) = watcher {
                let stop = 0u8;
                // SAFETY: one byte to our own pipe wakes the watcher (it may have gone).
                unsafe { libc::write(wfd, (&stop as *const u8).cast(), 1) };
                let _ = watcher.join();
            }
            out
        });
        // SAFETY: closing the pipe we created, once; no handler can still hold `wfd`
        // (released above).
        unsafe {
            libc::close(rfd);
            libc::close(wfd);
        }
        out
    }

    /// Restores the host's handlers without raising a caught signal again (for a program
    /// that handled the interruption itself and wants to exit normally).
    pub fn restore_quietly(self) {
        HANDED_BACK.store(SEEN.load(Ordering::SeqCst), Ordering::SeqCst);
        drop(self);
    }

    /// A signal that asks to abandon the login: caught by our handler since this guard was
    /// installed, or pending because the host blocks it (sudo holds SIGINT while it
    /// authenticates).
    pub fn interrupted(&self) -> Option<i32> {
        if let Some(sig) = self.caught() {
            return Some(sig);
        }
        // SAFETY: sigpending fills a valid sigset.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            if libc::sigpending(&mut set) == 0 {
                for sig in SIGNALS {
                    if libc::sigismember(&set, sig) == 1 {
                        return Some(sig);
                    }
                }
            }
        }
        None
    }
}

impl SignalGuard {
    /// A signal our handler caught since this guard was installed.
    fn caught(&self) -> Option<i32> {
        if SEEN.load(Ordering::SeqCst) == self.since {
            return None;
        }
        Some(CAUGHT.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }
}

/// Takes a wake pipe out of the handlers' reach, and returns once no handler that may have
/// read it is still running: only then may the descriptor be closed (and its number reused).
fn release(slot: Option<&AtomicI32>) {
    if let Some(slot) = slot {
        slot.store(-1, Ordering::SeqCst);
        while IN_HANDLER.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    }
}

/// Puts the host's handlers back at once (the guards still alive then restore nothing).
fn restore_now() {
    let mut st = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    for (i, &sig) in SIGNALS.iter().enumerate() {
        if let Some(old) = st.old[i].take() {
            // SAFETY: restoring the action saved at install.
            unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        let reraise = {
            let mut st = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
            st.count -= 1;
            if st.count > 0 {
                return;
            }
            for (i, &sig) in SIGNALS.iter().enumerate() {
                if let Some(old) = st.old[i].take() {
                    // SAFETY: restoring the action saved at install.
                    unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
                }
            }
            let seen = SEEN.load(Ordering::SeqCst);
            if HANDED_BACK.swap(seen, Ordering::SeqCst) != seen {
                CAUGHT.load(Ordering::SeqCst)
            } else {
                0
            }
        };
        if reraise != 0 {
            // SAFETY: raise is always safe to call; the host's disposition now applies.
            unsafe { libc::raise(reraise) };
        }
    }
}

/// Signal name for logs.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// A random number below `n`, from the OS generator (through ring).
pub(crate) fn random_below(n: u32) -> Option<u32> {
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let zone = u32::MAX - u32::MAX % n;
    for _ in 0..16 {
        let mut b = [0u8; 4];
        rng.fill(&mut b).ok()?;
        let v = u32::from_le_bytes(b);
        if v < zone {
            return Some(v % n);
        }
    }
    None
}

/// An exclusive `flock` on a file this process opened for it, held until the file is
/// closed (dropping it releases the lock). Never blocks.
pub(crate) struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Takes the lock if it is free: `Ok(Err(file))` hands the file back when another open
    /// file description holds it. Callers retry within their own deadline.
    pub(crate) fn try_exclusive(
        file: std::fs::File,
    ) -> std::io::Result<Result<FileLock, std::fs::File>> {
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: a valid open descriptor; LOCK_NB never sleeps.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Ok(FileLock { _file: file }));
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => return Ok(Err(file)),
                Some(libc::EINTR) => continue,
                _ => return Err(e),
            }
        }
    }
}

/// Whether a process with this pid exists (in this pid namespace).
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The connection of the client a login is for, found among the descriptors the process
/// holds when the hook starts: the one TCP socket whose peer address is the login's remote
/// host (PAM_RHOST as an address). sshd's PAM process inherits the client's socket from
/// its monitor, but nobody reads it while the module polls; when the client leaves, the
/// kernel marks the socket shut down by the peer (POLLRDHUP), which [`PeerWatch::gone`]
/// sees without reading a byte. Programs with no such socket (sudo, su, a console) have
/// nothing to watch. More than one candidate socket, or a remote host that is a name,
/// watches nothing: a wrong guess could only end a login early, never let one in, but
/// guessing is not needed.
pub(crate) struct PeerWatch {
    fd: libc::c_int,
    dev: u64,
    ino: u64,
    /// The client's address, as the log shows it.
    pub peer: String,
}

impl PeerWatch {
    /// The watch for `rhost`, `None` when there is no single socket to watch.
    pub(crate) fn find(rhost: &str) -> Option<PeerWatch> {
        let want: std::net::IpAddr = rhost
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let want = canonical_ip(want);
        let mut found: Option<PeerWatch> = None;
        for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<libc::c_int>().ok())
            else {
                continue;
            };
            let Some((dev, ino)) = socket_id(fd) else {
                continue;
            };
            let Some(peer) = tcp_peer(fd) else { continue };
            if canonical_ip(peer) != want {
                continue;
            }
            match &found {
                // The same socket under another descriptor (dup): one connection.
                Some(f) if (f.dev, f.ino) == (dev, ino) => {}
                Some(_) => return None,
                None => {
                    found = Some(PeerWatch {
                        fd,
                        dev,
                        ino,
                        peer: want.to_string(),
                    })
                }
            }
        }
        found
    }

    /// True once the client has closed its side (or the connection failed). Also false
    /// when the descriptor no longer holds the socket found (a program that closed it):
    /// then there is nothing left to tell.
    pub(crate) fn gone(&self) -> bool {
        if socket_id(self.fd) != Some((self.dev, self.ino)) {
            return false;
        }
        let mut p = libc::pollfd {
            fd: self.fd,
            // Only the peer's shutdown: data waiting on the socket is not ours to read,
            // and POLLIN would report it again on every look.
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let rc = unsafe { libc::poll(&mut p, 1, 0) };
        rc == 1 && p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
    }
}

/// The address with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as IPv4.
fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    }
}

/// Device and inode of `fd` when it is a socket.
fn socket_id(fd: libc::c_int) -> Option<(u64, u64)> {
    // SAFETY: fstat writes into the zeroed struct; a closed fd gives an error.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return None;
    }
    #[allow(
        clippy::useless_conversion,
        reason = "dev_t/ino_t widths differ by target"
    )]
    Some((u64::from(st.st_dev), u64::from(st.st_ino)))
}

/// The peer address of a connected TCP socket (IPv4 or IPv6), `None` for anything else.
fn tcp_peer(fd: libc::c_int) -> Option<std::net::IpAddr> {
    let int_opt = |name: libc::c_int| -> Option<libc::c_int> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: an int-sized option into an int.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (rc == 0).then_some(v)
    };
    if int_opt(libc::SO_TYPE)? != libc::SOCK_STREAM
        || int_opt(libc::SO_PROTOCOL)? != libc::IPPROTO_TCP
    {
        return None;
    }
    // SAFETY: sockaddr_storage is large enough for any address; len tells what was written.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    if unsafe {
        libc::getpeername(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    } != 0
    {
        return None;
    }
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family and length say it is a sockaddr_in.
            let sin =
                unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                u32::from_be(sin.sin_addr.s_addr),
            )))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family and length say it is a sockaddr_in6.
            let sin6 =
                unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                sin6.sin6_addr.s6_addr,
            )))
        }
        _ => None,
    }
}

/// The facts of the machine the login runs on, as the login flow ([`crate::login`]) needs them.
/// [`System`] reads them from the operating system; tests hand in canned ones.
pub trait Host {
    /// The canonical name the user database (NSS) knows `user` by; `Ok(None)` if it does
    /// not know the name, `Err` if the lookup itself failed.
    fn canonical_user(&self, user: &str) -> Result<Option<String>, LookupError>;
    /// The names of the groups `user` belongs to.
    fn groups(&self, user: &str) -> Result<Vec<String>, LookupError>;
    /// The GECOS field of `user` (`pw_gecos`), if any.
    fn gecos(&self, user: &str) -> Result<Option<String>, LookupError>;
    /// This machine's name, for the message.
    fn hostname(&self) -> String;
    /// A uniformly random number below `n` from a secure source; `None` if there is none.
    fn random_below(&self, n: u32) -> Option<u32>;
    /// The time shown in the message.
    fn now(&self) -> time::OffsetDateTime;
}

/// Writes one line to syslog at `priority` (a facility and a level), with no openlog: the
/// host's ident and facility stay its own. A NUL in the line becomes `?`.
pub(crate) fn syslog(priority: libc::c_int, line: &str) {
    let Ok(c) = CString::new(line.replace('\0', "?")) else {
        return;
    };
    // SAFETY: constant format string, one NUL-terminated argument.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), c.as_ptr()) };
}

/// The real [`Host`]: this machine's user database, groups, host name, random generator
/// and local time.
pub struct System;

impl Host for System {
    fn canonical_user(&self, user: &str) -> Result<Option<String>, LookupError> {
        Ok(lookup_user(user)?.map(|a| a.name))
    }

    fn groups(&self, user: &str) -> Result<Vec<String>, LookupError> {
        user_groups(user)
    }

    fn gecos(&self, user: &str) -> Result<Option<String>, LookupError> {
        Ok(lookup_user(user)?.and_then(|a| a.gecos))
    }

    fn hostname(&self) -> String {
        hostname()
    }

    fn random_below(&self, n: u32) -> Option<u32> {
        random_below(n)
    }

    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    static HOST_RAN: AtomicUsize = AtomicUsize::new(0);
    extern "C" fn host_handler(_: libc::c_int) {
        HOST_RAN.fetch_add(1, Ordering::SeqCst);
    }

    fn until(what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "waited for {what}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn current_handler(sig: libc::c_int) -> libc::sighandler_t {
        // SAFETY: querying into a zeroed sigaction.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old);
            old.sa_sigaction
        }
    }

    /// One test, because the signal dispositions are the process's.
    #[test]
    fn signals_restart_the_hosts_calls_and_reach_every_login_once() {
        // The host's own SIGTERM handler, as sshd's would be.
        // SAFETY: installing a handler that only touches an atomic.
        unsafe {
            libc::signal(
                libc::SIGTERM,
                host_handler as *const () as libc::sighandler_t,
            )
        };

        // 1. A host thread blocked in read(2) while our handler catches a signal on it:
        // SA_RESTART resumes the read instead of failing it with EINTR.
        let guard = SignalGuard::install();
        let mut fds = [-1i32; 2];
        // SAFETY: a valid array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let tid = Arc::new(AtomicI32::new(0));
        let t = tid.clone();
        let reader = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            t.store(unsafe { libc::gettid() }, Ordering::SeqCst);
            let mut b = 0u8;
            // SAFETY: one byte into a valid buffer.
            let n = unsafe { libc::read(fds[0], (&mut b as *mut u8).cast(), 1) };
            (n, std::io::Error::last_os_error().raw_os_error())
        });
        until("the reader to block in read(2)", || {
            let tid = tid.load(Ordering::SeqCst);
            tid != 0
                && std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
                    .is_ok_and(|s| s.starts_with("0 "))
        });
        // SAFETY: a live thread of this process.
        assert_eq!(
            unsafe { libc::pthread_kill(reader.as_pthread_t(), libc::SIGTERM) },
            0
        );
        until("the handler to run", || guard.interrupted().is_some());
        assert_eq!(guard.interrupted(), Some(libc::SIGTERM));
        // SAFETY: one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) }, 1);
        let (n, errno) = reader.join().unwrap();
        assert_eq!(n, 1, "read(2) resumed, not failed (errno {errno:?})");
        guard.restore_quietly();
        assert_eq!(HOST_RAN.load(Ordering::SeqCst), 0);
        assert_eq!(
            current_handler(libc::SIGTERM),
            host_handler as *const () as libc::sighandler_t
        );

        // 2. Two logins in one process; a signal during the first one's prompt: that one
        // cancels and hands the signal to the host at once; the second still sees it (and
        // abandons its login), and the host gets the signal once, not twice.
        let a = SignalGuard::install();
        let b = SignalGuard::install();
        let abandoned = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let (a, abandoned) = (&a, &abandoned);
            let prompt = s.spawn(move || {
                a.during(|| rx.recv_timeout(Duration::from_secs(30)).is_ok(), &|_| {
                    abandoned.store(true, Ordering::SeqCst)
                })
            });
            until("the prompt's wake pipe", || {
                WAKE.iter().any(|w| w.load(Ordering::SeqCst) >= 0)
            });
            // SAFETY: a signal to this process; the handlers only touch atomics.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            until("the host's handler", || {
                HOST_RAN.load(Ordering::SeqCst) == 1
            });
            assert!(
                abandoned.load(Ordering::SeqCst),
                "the first login cancelled"
            );
            assert_eq!(
                b.interrupted(),
                Some(libc::SIGTERM),
                "the second login sees the signal too"
            );
            tx.send(()).unwrap();
            assert!(prompt.join().unwrap());
        });
        drop(a);
        drop(b);
        assert_eq!(HOST_RAN.load(Ordering::SeqCst), 1, "handed back once");
        assert_eq!(
            current_handler(libc::SIGTERM),
            host_handler as *const () as libc::sighandler_t
        );
        // SAFETY: closing our pipe.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
