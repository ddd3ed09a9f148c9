//! What a PAM service's auth stack does, asked of libpam itself.
//!
//! `check` does not model Linux-PAM: line assembly, comments, continuations, controls,
//! `default=`, jumps, `include`/`substack`/`@include`, `-auth`, missing modules and the
//! dispatcher differ between Linux-PAM releases and each difference can turn a stack that
//! lets everyone in into "OK". Instead the service is run by the libpam this host has:
//!
//! 1. A private copy ([`Copy`]) of the PAM directory is made in a 0700 directory of the
//!    check's own. In it every word that names an existing module file (relative names are
//!    looked up in libpam's module directory, absolute ones as written) is replaced by the
//!    path of a copy of the stand-in module (`standin.c`, embedded in this binary), one copy
//!    per module file; absolute `include`/`substack`/`@include` targets are copied the same
//!    way. Nothing else changes: libpam still reads the administrator's text, byte for byte,
//!    and a module file that does not exist stays missing, as libpam would find it.
//! 2. Each run starts a transaction on the copy (`pam_start_confdir`) and tells the stand-ins,
//!    through the transaction's PAM environment, what the n-th module to run returns; the
//!    stand-ins write down which of them ran, with which arguments, and what they returned.
//! 3. [`explore`] runs the stack once for every path through it: every invocation gets, in
//!    turn, every code that can make a difference (the codes named anywhere in the files'
//!    controls, success, ignore, new_authtok_reqd, and one code named nowhere, which stands
//!    for all the codes that fall to `default`). Lines that never run are never varied.
//!
//! A run in which libpam loaded any shared object other than the stand-ins (a module the
//! copy could not replace) ends the exploration with an error: the verdict never rests on a
//! real module's answer to a check's empty conversation.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use pam_passbyme::pamapp::{self, Transaction};

/// The stand-in module, built by build.rs from `standin.c` for the target.
static STANDIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/standin.so"));
/// The marker after which each copy's six-digit id is written (see `standin.c`).
const MARK: &[u8] = b"PBM_STANDIN_MARK:";

/// Linux-PAM's return codes by their pam.conf names, in value order (`_pam_types.h`).
pub const CODES: [&str; 32] = [
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
];

pub const SUCCESS: i32 = 0;
pub const SYSTEM_ERR: i32 = 4;
pub const AUTH_ERR: i32 = 7;
pub const AUTHINFO_UNAVAIL: i32 = 9;
pub const IGNORE: i32 = 25;

/// A code's pam.conf name (`auth_err`), or its number.
pub fn code_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODES.get(i))
        .map_or_else(|| code.to_string(), |s| (*s).to_owned())
}

/// Why a stack could not be judged.
#[derive(Debug)]
pub enum Error {
    /// The private copy could not be made (file system).
    Copy(String),
    /// This libpam has no `pam_start_confdir` (Linux-PAM before 1.4).
    NoConfdir,
    /// libpam refused to start a transaction on the copy.
    Start(i32),
    /// A module the copy did not replace was loaded.
    RealModule(PathBuf),
    /// More runs than the limit.
    TooLarge(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Copy(e) => write!(f, "the private copy of the PAM configuration: {e}"),
            Error::NoConfdir => write!(
                f,
                "this libpam has no pam_start_confdir (Linux-PAM before 1.4): the stack cannot be run from a private copy"
            ),
            Error::Start(c) => write!(f, "libpam refused to start the service: {}", code_name(*c)),
            Error::RealModule(p) => write!(
                f,
                "libpam loaded {}, which the check could not replace by its stand-in (a module named in a way the check does not recognise)",
                p.display()
            ),
            Error::TooLarge(n) => write!(
                f,
                "more than {n} paths through the stack: not judged on part of them"
            ),
        }
    }
}

/// One module file named by the configuration (a stand-in copy takes its place).
#[derive(Clone, Debug)]
pub struct Module {
    /// The module file as found (canonical path).
    pub path: PathBuf,
}

impl Module {
    /// The file name without `lib` and `.so`: `pam_unix`.
    pub fn base(&self) -> String {
        base_name(&self.path.to_string_lossy())
    }
}

/// The file name of a module word without directories, `lib` and `.so`.
pub fn base_name(word: &str) -> String {
    let b = word.rsplit('/').next().unwrap_or(word);
    let b = b.strip_suffix(".so").unwrap_or(b);
    b.strip_prefix("lib").unwrap_or(b).to_owned()
}

/// A word of the configuration that names a module file that does not exist.
#[derive(Clone, Debug)]
pub struct Missing {
    pub word: String,
    pub file: PathBuf,
    pub line: usize,
    /// Where libpam looks for it.
    pub resolved: PathBuf,
}

/// The private copy of a PAM directory, removed on drop.
pub struct Copy {
    root: PathBuf,
    /// The stand-in copies, by id (the index).
    pub modules: Vec<Module>,
    /// Words that look like module names (`….so`) whose file does not exist.
    pub missing: Vec<Missing>,
    /// The codes named in a control anywhere in the copied files (`name=`).
    pub named: BTreeSet<i32>,
    /// Where each module id's words stand in the original files (file, line).
    pub places: HashMap<usize, Vec<(PathBuf, usize)>>,
    by_path: HashMap<PathBuf, usize>,
    includes: HashMap<PathBuf, PathBuf>,
    module_dir: PathBuf,
    pam_dir: PathBuf,
    /// The original files' lines, for the codes named near a module's word.
    lines: HashMap<PathBuf, Vec<String>>,
    /// The stand-ins, loaded once and kept loaded while the copy lives, so that each of
    /// libpam's dlopen()s of them is a reference count.
    handles: Vec<Handle>,
}

impl Drop for Copy {
    fn drop(&mut self) {
        self.handles.clear();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A stand-in copy kept loaded (`dlopen`), unloaded on drop.
struct Handle(*mut std::ffi::c_void);

impl Handle {
    #[allow(unsafe_code)]
    fn open(path: &Path) -> Result<Handle, Error> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::Copy(format!("{}: NUL in path", path.display())))?;
        // SAFETY: a NUL-terminated path of our own stand-in, which has no constructors
        // and resolves its libpam functions in this process (libpam is linked).
        let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if h.is_null() {
            return Err(Error::Copy(format!(
                "{}: the stand-in module does not load",
                path.display()
            )));
        }
        Ok(Handle(h))
    }
}

impl Drop for Handle {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: a handle from dlopen, closed once; libpam has closed its own references
        // (every transaction ends before the copy is dropped).
        unsafe { libc::dlclose(self.0) };
    }
}

/// Files larger than this are not copied (a PAM file is a few kilobytes).
const MAX_FILE: u64 = 1 << 20;

impl Copy {
    /// Copies every regular file of `pam_dir`, replacing module words by stand-ins.
    pub fn new(pam_dir: &Path) -> Result<Copy, Error> {
        let module_dir = pamapp::module_dir().ok_or_else(|| {
            Error::Copy("cannot find the loaded libpam's module directory".into())
        })?;
        Copy::with_module_dir(pam_dir, &module_dir)
    }

    /// [`Copy::new`] with the directory that relative module names are looked up in.
    pub fn with_module_dir(pam_dir: &Path, module_dir: &Path) -> Result<Copy, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let root =
            std::env::temp_dir().join(format!("passbyme-check-pam.{}.{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&root)
            .map_err(|e| Error::Copy(format!("{}: {e}", root.display())))?;
        let mut copy = Copy {
            lines: HashMap::new(),
            handles: Vec::new(),
            root,
            modules: Vec::new(),
            missing: Vec::new(),
            named: BTreeSet::new(),
            places: HashMap::new(),
            by_path: HashMap::new(),
            includes: HashMap::new(),
            module_dir: module_dir.to_path_buf(),
            pam_dir: pam_dir.to_path_buf(),
        };

        for d in ["pam.d", "m", "abs"] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(copy.root.join(d))
                .map_err(|e| Error::Copy(format!("{}: {e}", copy.root.join(d).display())))?;
        }
        let entries = std::fs::read_dir(pam_dir)
            .map_err(|e| Error::Copy(format!("{}: {e}", pam_dir.display())))?;
        let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let path = e.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() > MAX_FILE {
                continue;
            }
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let out = copy.rewrite(&path, &text, 0)?;
            let dest = copy.root.join("pam.d").join(e.file_name());
            write_private(&dest, &out, 0o600)?;
        }
        Ok(copy)
    }

    /// The codes a control names near module `id`'s words: on the word's line and the lines
    /// that may continue into it (those ending in `\\`, blank and comment lines between),
    /// and on every line that names a substack (a module's code can become its
    /// substack's result). A superset of what libpam's parser gives the module's lines: a
    /// code too many only costs runs.
    pub fn codes_near(&self, id: usize) -> BTreeSet<i32> {
        let mut out = BTreeSet::new();
        let mut scan = |line: &str| {
            for w in line.split(|c: char| c.is_ascii_whitespace() || "[]\\#".contains(c)) {
                if let Some((k, _)) = w.split_once('=') {
                    let k = k.to_ascii_lowercase();
                    if let Some(i) = CODES.iter().position(|c| *c == k) {
                        out.insert(i as i32);
                    }
                }
            }
        };
        for (file, line) in self.places.get(&id).into_iter().flatten() {
            let Some(lines) = self.lines.get(file) else {
                continue;
            };
            let mut n = *line;
            if let Some(l) = lines.get(n.wrapping_sub(1)) {
                scan(l);
            }
            while n > 1 {
                n -= 1;
                let Some(l) = lines.get(n - 1) else { break };
                let t = l.trim();
                if t.is_empty() || t.starts_with('#') || t.ends_with('\\') {
                    scan(l);
                } else {
                    break;
                }
            }
        }
        for lines in self.lines.values() {
            for (i, l) in lines.iter().enumerate() {
                if l.to_ascii_lowercase().contains("substack") {
                    for l in &lines[i.saturating_sub(16)..=i] {
                        scan(l);
                    }
                }
            }
        }
        out
    }

    /// The private PAM directory to start transactions on.
    pub fn confdir(&self) -> PathBuf {
        self.root.join("pam.d")
    }

    /// `text` (the file `from`) with every module word and absolute include replaced.
    fn rewrite(&mut self, from: &Path, text: &[u8], depth: usize) -> Result<Vec<u8>, Error> {
        self.lines.insert(
            from.to_path_buf(),
            String::from_utf8_lossy(text)
                .lines()
                .map(str::to_owned)
                .collect(),
        );
        let mut out = Vec::with_capacity(text.len() + 64);
        let mut i = 0;
        let mut line = 1;
        while i < text.len() {
            let c = text[i];
            if is_delimiter(c) {
                if c == b'\n' {
                    line += 1;
                }
                out.push(c);
                i += 1;
                continue;
            }
            let start = i;
            while i < text.len() && !is_delimiter(text[i]) {
                i += 1;
            }
            let word = &text[start..i];
            self.note_codes(word);
            match self.replacement(from, line, word, depth)? {
                Some(r) => out.extend_from_slice(r.as_os_str().as_encoded_bytes()),
                None => out.extend_from_slice(word),
            }
        }
        Ok(out)
    }

    /// `success=…`, `default=…`: the code names written before `=` anywhere.
    fn note_codes(&mut self, word: &[u8]) {
        let Ok(w) = std::str::from_utf8(word) else {
            return;
        };
        if let Some((k, _)) = w.split_once('=') {
            let k = k.to_ascii_lowercase();
            if let Some(i) = CODES.iter().position(|c| *c == k) {
                self.named.insert(i as i32);
            }
        }
    }

    fn replacement(
        &mut self,
        from: &Path,
        line: usize,
        word: &[u8],
        depth: usize,
    ) -> Result<Option<PathBuf>, Error> {
        let Ok(w) = std::str::from_utf8(word) else {
            return Ok(None);
        };
        if w.contains('=') {
            return Ok(None);
        }
        // A name of a file of the PAM directory: an include. Linux-PAM releases differ in
        // where a relative include is looked up when the transaction has its own
        // directory (1.5 reads /etc/pam.d), so the copy names its own file absolutely.
        if !w.contains('/') && !w.ends_with(".so") && w != "." && w != ".." {
            let own = self.pam_dir.join(w);
            if std::fs::metadata(&own).is_ok_and(|m| m.is_file()) {
                return Ok(Some(self.root.join("pam.d").join(w)));
            }
        }
        let candidate = if w.starts_with('/') {
            PathBuf::from(w)
        } else {
            self.module_dir.join(w)
        };
        let meta = std::fs::metadata(&candidate);
        let is_file = meta.as_ref().is_ok_and(|m| m.is_file());
        if !is_file {
            if w.ends_with(".so") && meta.is_err() {
                self.missing.push(Missing {
                    word: w.to_owned(),
                    file: from.to_path_buf(),
                    line,
                    resolved: candidate,
                });
            }
            return Ok(None);
        }
        let Ok(canon) = std::fs::canonicalize(&candidate) else {
            return Ok(None);
        };
        if is_elf(&canon) {
            let id = match self.by_path.get(&canon) {
                Some(&id) => id,
                None => self.add_module(canon)?,
            };
            self.places
                .entry(id)
                .or_default()
                .push((from.to_path_buf(), line));
            return Ok(Some(self.module_path(id)));
        }
        // An absolute path to a text file: an include (or an argument, which a stand-in
        // ignores): its copy, rewritten the same way, takes its place.
        if !w.starts_with('/') || depth > 8 {
            return Ok(None);
        }
        if let Some(p) = self.includes.get(&canon) {
            return Ok(Some(p.clone()));
        }
        let meta = std::fs::metadata(&canon).map_err(|e| Error::Copy(e.to_string()))?;
        if meta.len() > MAX_FILE {
            return Ok(None);
        }
        let dest = self.root.join("abs").join(self.includes.len().to_string());
        self.includes.insert(canon.clone(), dest.clone());
        let text =
            std::fs::read(&canon).map_err(|e| Error::Copy(format!("{}: {e}", canon.display())))?;
        let out = self.rewrite(&canon, &text, depth + 1)?;
        write_private(&dest, &out, 0o600)?;
        Ok(Some(dest))
    }

    fn module_path(&self, id: usize) -> PathBuf {
        self.root.join("m").join(format!("{id}.so"))
    }

    fn add_module(&mut self, path: PathBuf) -> Result<usize, Error> {
        let id = self.modules.len();
        if id > 999_999 {
            return Err(Error::Copy("too many module files".into()));
        }
        write_stand_in(&self.module_path(id), id)?;
        self.handles.push(Handle::open(&self.module_path(id))?);
        self.by_path.insert(path.clone(), id);
        self.modules.push(Module { path });
        Ok(id)
    }
}

/// libpam logs what it finds wrong with a stack (a module it cannot load, a line it
/// cannot parse) through syslog, once per transaction: thousands of lines for one check.
/// While the check runs the copy, only emergencies pass (`setlogmask`); the check reports
/// what matters itself. The `passbyme` command's own audit lines use a socket of their own,
/// not libc's syslog.
struct QuietSyslog(std::ffi::c_int);

impl QuietSyslog {
    #[allow(unsafe_code)]
    fn new() -> QuietSyslog {
        // SAFETY: setlogmask only swaps an integer in libc's syslog state.
        QuietSyslog(unsafe { libc::setlogmask(1 << libc::LOG_EMERG) })
    }
}

impl Drop for QuietSyslog {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: as above; restores the mask that was in force.
        unsafe { libc::setlogmask(self.0) };
    }
}

/// The prefix of every private directory of the check's (stand-ins live only there).
const PRIVATE_PREFIX: &str = "passbyme-check-pam.";

/// A stand-in of this or another check's copy (several may be open in one process).
fn is_stand_in(o: &Path) -> bool {
    o.strip_prefix(std::env::temp_dir())
        .ok()
        .and_then(|rest| rest.components().next())
        .is_some_and(|c| c.as_os_str().to_string_lossy().starts_with(PRIVATE_PREFIX))
}

/// Writes a copy of the stand-in with the six-digit `id` (tests make stacks of their own).
pub fn write_stand_in(path: &Path, id: usize) -> Result<(), Error> {
    let mut bytes = STANDIN.to_vec();
    let at = find(&bytes, MARK)
        .ok_or_else(|| Error::Copy("the stand-in module has no id mark".into()))?
        + MARK.len();
    bytes[at..at + 6].copy_from_slice(format!("{:06}", id % 1_000_000).as_bytes());
    write_private(path, &bytes, 0o500)
}

fn is_delimiter(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'[' | b']' | b'\\' | b'#')
}

fn is_elf(p: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == *b"\x7fELF"
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::Copy(format!("{}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| Error::Copy(format!("{}: {e}", path.display())))
}

/// One module that ran in a run: which stand-in, with libpam's split of its arguments, and
/// what it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub module: usize,
    pub code: i32,
    pub args: Vec<String>,
}

/// One path through the stack: what ran, in order, and what `pam_authenticate` returned.
#[derive(Clone, Debug)]
pub struct Run {
    pub steps: Vec<Step>,
    pub result: i32,
}

/// Runs `service` on the copy once, the n-th module returning `plan[n]`, and any module
/// past the plan the first of its codes (`first`, by module id).
pub fn run_once(copy: &Copy, service: &str, plan: &[i32], first: &[i32]) -> Result<Run, Error> {
    let first: Vec<(usize, i32)> = first.iter().copied().enumerate().collect();
    run_dir(&copy.confdir(), service, plan, &first)
}

/// [`run_once`] on any PAM directory whose modules are stand-ins: `first` gives
/// (stand-in id, code) defaults.
pub fn run_dir(
    confdir: &Path,
    service: &str,
    plan: &[i32],
    first: &[(usize, i32)],
) -> Result<Run, Error> {
    let before: BTreeSet<PathBuf> = pamapp::loaded_objects().into_iter().collect();
    let mut t = Transaction::start(
        service,
        "passbyme-check",
        Some(confdir),
        Box::new(|_, _| Err(())),
    )
    .map_err(|c| {
        if c == SYSTEM_ERR && !pamapp::has_confdir() {
            Error::NoConfdir
        } else {
            Error::Start(c)
        }
    })?;
    for (id, code) in first {
        t.putenv(&format!("PBMCK_D{id:06}={code}"));
    }
    for (n, code) in plan.iter().enumerate() {
        t.putenv(&format!("PBMCK_P{n}={code}"));
    }
    let result = t.authenticate(0);
    for o in pamapp::loaded_objects() {
        if !before.contains(&o) && !is_stand_in(&o) {
            return Err(Error::RealModule(o));
        }
    }
    let n: usize = t
        .getenv("PBMCK_N")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut steps = Vec::with_capacity(n);
    for i in 0..n {
        let trace = t.getenv(&format!("PBMCK_T{i}")).unwrap_or_default();
        let (id, code) = trace.split_once(' ').unwrap_or_default();
        let args = t
            .getenv(&format!("PBMCK_A{i}"))
            .unwrap_or_default()
            .split('\u{1f}')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        steps.push(Step {
            module: id.parse().unwrap_or(usize::MAX),
            code: code.parse().unwrap_or(SYSTEM_ERR),
            args,
        });
    }
    Ok(Run { steps, result })
}

/// Every path through `service`'s auth stack: each invocation of module `m` gets each of
/// `codes(m)` in turn (the first is what it returns when nothing else is asked). At most
/// `limit` runs.
pub fn explore(
    copy: &Copy,
    service: &str,
    codes: &dyn Fn(usize) -> Vec<i32>,
    limit: usize,
) -> Result<Vec<Run>, Error> {
    let sets: Vec<Vec<i32>> = (0..copy.modules.len())
        .map(|m| {
            let c = codes(m);
            if c.is_empty() {
                vec![SYSTEM_ERR]
            } else {
                c
            }
        })
        .collect();
    let first: Vec<i32> = sets.iter().map(|s| s[0]).collect();
    let _quiet = QuietSyslog::new();
    let mut todo: Vec<Vec<i32>> = vec![Vec::new()];
    let mut runs = Vec::new();
    while let Some(plan) = todo.pop() {
        if runs.len() >= limit {
            return Err(Error::TooLarge(limit));
        }
        let run = run_once(copy, service, &plan, &first)?;
        // Every invocation past the plan took its module's first code: each other code
        // there starts a path of its own.
        for i in (plan.len()..run.steps.len()).rev() {
            let Some(set) = sets.get(run.steps[i].module) else {
                continue;
            };
            for &alt in &set[1..] {
                let mut p: Vec<i32> = run.steps[..i].iter().map(|s| s.code).collect();
                p.push(alt);
                todo.push(p);
            }
        }
        runs.push(run);
    }
    Ok(runs)
}

/// The codes other modules are tried with: those the controls near them name, success,
/// ignore (which the dispatcher treats apart, and password modules really return for users
/// they do not know), and one code named nowhere near, standing for every code that falls
/// to `default`.
///
/// Left out: every other code a control does not name, which libpam treats as the one
/// tried; and new_authtok_reqd where no control near names it. What stands for it depends
/// on the line each invocation runs on (`pam_handlers.c`): a keyword control (required,
/// requisite, sufficient, optional) gives it success's action, and then it can only turn a
/// success into a failure (it becomes the stack's status and is not success), never let
/// through a path that success would not; a bracket control that does not name it gives it
/// `default`, as the code named nowhere. A module named on both kinds of line needs success
/// at one invocation and the other code at the next: [`explore`] tries every code at every
/// invocation, so it tries that path too.
pub fn free_codes(named: &BTreeSet<i32>) -> Vec<i32> {
    free_codes_with(named, &[SUCCESS, IGNORE])
}

/// [`free_codes`] with the codes that are always tried given.
pub fn free_codes_with(named: &BTreeSet<i32>, always: &[i32]) -> Vec<i32> {
    let mut set: BTreeSet<i32> = named.clone();
    set.extend(always.iter().copied());
    // The stand-in for "any other code": auth_err when no control near names it, else the
    // first code none names. It comes first: the path that runs when nothing else is asked
    // is the ordinary failing one.
    let rest = std::iter::once(AUTH_ERR)
        .chain(0..CODES.len() as i32)
        .find(|c| !set.contains(c));
    rest.into_iter().chain(set).collect()
}

#[cfg(test)]
#[path = "libpam_tests.rs"]
mod tests;
