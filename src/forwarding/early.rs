//! The exec path, taken before the C runtime starts.
//!
//! Why: a static glibc program's start-up (CPU-feature and cache detection
//! through `cpuid`, each one a VM exit under a hypervisor; tunables; IFUNC
//! relocations) costs ~0.28 ms on this project's machines, far more than all
//! the wrapper's own work, and the exec path needs none of it. So the binary's
//! ELF entry point is `cfdev_shim_entry` (set by build.rs), which runs
//! `early_exec` on the kernel's initial stack and then jumps to the C
//! runtime's `_start` as if nothing had happened.
//!
//! `early_exec` starts the real cf itself when the call needs nothing else
//! first, decided by the rule function mode already uses (`shims/function.*`):
//! `argv[0]` is `cf`, the first argument is not `dev` or `-v`, and no recursion
//! guard was inherited. Then
//! - telemetry is not on (`DO_NOT_TRACK` or `CFDEV_SHIM_TELEMETRY=off`, or no
//!   `telemetry-on` marker beside the config: `marker.rs` keeps it in step
//!   with the stored choice): cf replaces this process (exec);
//! - the marker is there (and no argument asks for help or the version:
//!   those are never recorded, and the normal path execs them): cf starts
//!   as our child (clone, exactly as
//!   `forward::spawn_and_wait` starts it) with every signal left blocked
//!   here, and the C runtime's start-up and the normal path run while cf
//!   already does. The normal path (`app::adopt`) decides as always whether
//!   to record (consent, paused…), installs the signal relay,
//!   puts the caller's mask back and waits for that cf (`started_child`).
//!   When it then does not record after all (a stale marker, a consent
//!   paused by a new data version), cf has run as a child rather than
//!   exec'd: its PID differs from the wrapper's and a core dump loses its
//!   flag in the caller's wait status (as on the spawn path) — the one
//!   difference, accepted for those rare calls.
//!
//! The real cf is found as `resolve` finds it and gets the same guard entry.
//! At the least doubt (anything unusual in the environment, a file of our
//! size on PATH, a path too long for the buffers, an exec error) it returns
//! with nothing changed and the normal path does everything as before, so
//! this module can only ever be a faster way to the same result.
//! `CFDEV_SHIM_EARLY=0` turns it off (to compare, or to rule it out).
//!
//! Rules for this module, because it runs before libc is initialised: no std,
//! no allocation, no libc function (errno and thread-local storage are not set
//! up; in a static binary memcpy/memcmp/strlen are IFUNCs not yet resolved),
//! hence system calls by hand, no slice `==` (memcmp) and no loops the
//! compiler could turn into memcpy/memset/strlen: bytes are read and written
//! one at a time through volatile accesses. x86_64 only; elsewhere the entry
//! point stays the C runtime's.

use core::mem::MaybeUninit;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// Longest path the early path builds (a marker or a PATH candidate).
const PATH_BUF: usize = 4096;
/// Most environment entries the early path copies (more: normal path).
const MAX_ENV: usize = 1024;
const GUARD_PREFIX: &[u8] = b"__CFDEV_SHIM_GUARD=";

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl cfdev_shim_entry",
    ".type cfdev_shim_entry,@function",
    "cfdev_shim_entry:",
    // Keep the kernel's stack pointer and rdx (the dynamic loader's
    // finaliser in a dynamic build) for `_start`, in callee-saved registers.
    "mov r12, rsp",
    "mov r13, rdx",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {early}",
    "mov rsp, r12",
    "mov rdx, r13",
    "jmp _start",
    early = sym early_exec,
);

/// Runs on the kernel's initial stack (`argc`, argv…, NULL, envp…, NULL);
/// returns when the normal path must decide.
///
/// # Safety
/// Only the entry stub calls it, with the process's initial stack pointer.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn early_exec(stack: *const usize) {
    // SAFETY: the System V initial stack: argc, then argc argv pointers and a
    // NULL, then the environment pointers and a NULL.
    let argc = unsafe { *stack };
    let argv = stack.wrapping_add(1) as *const *const u8;
    let envp = argv.wrapping_add(argc + 1);
    // SAFETY: as above; every pointer is a NUL-terminated string.
    unsafe { try_exec(argc, argv, envp) };
}

/// The variables the decision reads, each the first entry of its name (as
/// getenv finds it).
#[derive(Default)]
struct Env<'a> {
    count: usize,
    guard: bool,
    early: Option<&'a [u8]>,
    home: Option<&'a [u8]>,
    real_cf: Option<&'a [u8]>,
    telemetry: Option<&'a [u8]>,
    do_not_track: Option<&'a [u8]>,
    xdg_config_home: Option<&'a [u8]>,
    user_home: Option<&'a [u8]>,
    path: Option<&'a [u8]>,
}

impl<'a> Env<'a> {
    fn read(entries: impl Iterator<Item = &'a [u8]>) -> Env<'a> {
        let mut env = Env::default();
        for entry in entries {
            env.count += 1;
            if starts_with(entry, GUARD_PREFIX) {
                env.guard = true;
            }
            let slot = |name: &[u8]| value_of(entry, name);
            for (name, field) in [
                (&b"CFDEV_SHIM_EARLY"[..], &mut env.early),
                (b"CFDEV_SHIM_HOME", &mut env.home),
                (b"CFDEV_SHIM_REAL_CF", &mut env.real_cf),
                (b"CFDEV_SHIM_TELEMETRY", &mut env.telemetry),
                (b"DO_NOT_TRACK", &mut env.do_not_track),
                (b"XDG_CONFIG_HOME", &mut env.xdg_config_home),
                (b"HOME", &mut env.user_home),
                (b"PATH", &mut env.path),
            ] {
                if field.is_none() {
                    *field = slot(name);
                }
            }
        }
        env
    }
}

/// What the rule says about this call.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Telemetry is off whatever is stored: exec the real cf.
    Off,
    /// Exec the real cf unless this marker file exists.
    UnlessMarker,
    /// Leave it to the normal path.
    Undecided,
}

/// The function-mode rule (shims/function.bash), minus the marker test.
fn verdict(argv0: &[u8], first_arg: Option<&[u8]>, env: &Env) -> Verdict {
    if !is_cf_name(argv0) || env.guard || env.early.is_some_and(|v| bytes_eq(v, b"0")) {
        return Verdict::Undecided;
    }
    if let Some(arg) = first_arg {
        if bytes_eq(arg, b"dev") || bytes_eq(arg, b"-v") {
            return Verdict::Undecided;
        }
    }
    if env
        .do_not_track
        .is_some_and(|v| !v.is_empty() && !bytes_eq(v, b"0"))
    {
        return Verdict::Off;
    }
    match env.telemetry.filter(|v| !v.is_empty()) {
        None => Verdict::UnlessMarker,
        Some(v) if is_off_switch(v) => Verdict::Off,
        Some(_) => Verdict::Undecided,
    }
}

/// `off` and its spellings as `settings::parse_switch` takes them, exact
/// (anything else, even `on`, goes to the normal path).
fn is_off_switch(value: &[u8]) -> bool {
    [&b"off"[..], b"0", b"false", b"no"]
        .into_iter()
        .any(|word| eq_ignore_ascii_case(value, word))
}

/// The marker's path, as `StatePaths` and `marker::path_for` make it:
/// `CFDEV_SHIM_HOME`, else the XDG config directory + `cfdev-shim`.
fn marker_path(env: &Env, out: &mut Buf<'_>) -> Option<()> {
    if let Some(home) = env.home.filter(|v| !v.is_empty()) {
        out.push_dir(home)?;
    } else if let Some(xdg) = env.xdg_config_home.filter(|v| v.first() == Some(&b'/')) {
        out.push_dir(xdg)?;
        out.push_dir(b"cfdev-shim")?;
    } else {
        out.push_dir(env.user_home.filter(|v| !v.is_empty())?)?;
        out.push_dir(b".config/cfdev-shim")?;
    }
    // A relative root depends on the working directory: normal path.
    if out.first() != Some(b'/') {
        return None;
    }
    out.push(b"telemetry-on")?;
    out.nul()
}

/// Decides and, when the rule allows, execs the real cf; returns otherwise.
///
/// # Safety
/// `argv` holds `argc` NUL-terminated strings and a NULL; `envp` is a
/// NULL-terminated array of NUL-terminated strings.
#[cfg(target_arch = "x86_64")]
unsafe fn try_exec(argc: usize, argv: *const *const u8, envp: *const *const u8) -> Option<()> {
    if argc == 0 {
        return None;
    }
    // SAFETY: argv[0] exists (argc ≥ 1) and is a NUL-terminated string.
    let first_slot = unsafe { read_volatile(argv) };
    // SAFETY: as above.
    let argv0 = unsafe { c_bytes(first_slot) };
    let first = (argc >= 2).then(|| {
        // SAFETY: argv[1] exists when argc ≥ 2.
        let arg = unsafe { read_volatile(argv.wrapping_add(1)) };
        // SAFETY: and is a NUL-terminated string.
        unsafe { c_bytes(arg) }
    });
    // SAFETY: the caller's contract.
    let env = Env::read(unsafe { c_array(envp) });
    let how = match verdict(argv0, first, &env) {
        Verdict::Undecided => return None,
        Verdict::Off => Start::Exec,
        Verdict::UnlessMarker => {
            let storage = &raw mut MARKER_PATH;
            // SAFETY: single-threaded before the C runtime; used once.
            let mut marker = unsafe { buf_in(storage) };
            marker_path(&env, &mut marker)?;
            match sys::stat(marker.as_ptr()) {
                Err(sys::ENOENT) => Start::Exec,
                // A call cf answers with help or its version is never
                // recorded, and the normal path execs it: so must we.
                // SAFETY: the caller's contract.
                Ok(_) if argc < 2 || unsafe { asks_help(argc, argv) } => return None,
                Ok(_) => Start::Spawn,
                Err(_) => return None,
            }
        }
    };
    if env.count > MAX_ENV {
        return None;
    }
    // SAFETY: the caller's contract.
    unsafe { start_real_cf(how, &env, argv, envp) }
}

/// Whether any argument is one that makes cf print help or its version
/// (`argv::read` then finds no command): such calls go to the normal path.
///
/// # Safety
/// As `try_exec`.
unsafe fn asks_help(argc: usize, argv: *const *const u8) -> bool {
    (1..argc).any(|i| {
        // SAFETY: i < argc.
        let slot = unsafe { read_volatile(argv.wrapping_add(i)) };
        // SAFETY: a NUL-terminated argument.
        let arg = unsafe { c_bytes(slot) };
        [
            &b"-h"[..],
            b"--help",
            b"--h",
            b"help",
            b"h",
            b"--version",
            b"-v",
        ]
        .into_iter()
        .any(|word| bytes_eq(arg, word))
    })
}

/// How cf is started here.
#[derive(Clone, Copy)]
enum Start {
    /// Telemetry is not on: cf replaces this process.
    Exec,
    /// The marker says telemetry is on: cf starts now as our child, and the
    /// C runtime's start-up and the normal path (which decides whether to
    /// record, and waits) run while cf already does.
    Spawn,
}

/// Finds the real cf and starts it with the guard; returns on any failure
/// (and, for `Start::Spawn`, on success too, with the child recorded in
/// `STARTED_PID` and its neighbours).
///
/// # Safety
/// As `try_exec`; `env` was read from `envp`.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
unsafe fn start_real_cf(
    how: Start,
    env: &Env,
    argv: *const *const u8,
    envp: *const *const u8,
) -> Option<()> {
    let (real_storage, guard_storage) = (&raw mut REAL_CF_PATH, &raw mut GUARD_ENTRY);
    // SAFETY: single-threaded before the C runtime; each used once.
    let mut real = unsafe { buf_in(real_storage) };
    let me = real_cf(env, &mut real)?;

    // SAFETY: as above.
    let mut guard = unsafe { buf_in(guard_storage) };
    guard.push(GUARD_PREFIX)?;
    guard.push_decimal(sys::getpid())?;
    guard.push(b" ")?;
    guard.push_decimal(me.dev)?;
    guard.push(b":")?;
    guard.push_decimal(me.ino)?;
    // Nesting 0: no guard was inherited.
    guard.push(b" 0\n")?;
    guard.push(real.bytes())?;
    guard.nul()?;

    let slots = (&raw mut ENV_WITH_GUARD) as *mut *const u8;
    // env.count ≤ MAX_ENV entries plus the guard and the NULL fit; envp has
    // env.count entries.
    let put = |i: usize, entry: *const u8| {
        // SAFETY: i ≤ env.count + 1 < MAX_ENV + 2, within `with_guard`.
        unsafe { write_volatile(slots.wrapping_add(i), entry) }
    };
    for i in 0..env.count {
        // SAFETY: i < env.count, within the caller's environment array.
        put(i, unsafe { read_volatile(envp.wrapping_add(i)) });
    }
    put(env.count, guard.as_ptr());
    put(env.count + 1, core::ptr::null());
    let plan = SpawnPlan {
        path: real.as_ptr(),
        argv,
        env_with_guard: slots,
        env_without_guard: envp,
        caller_mask: 0,
        sigchld_was_ignored: false,
        failure: 0,
    };
    match how {
        Start::Exec => {
            execve_with_fallback(&plan);
        }
        Start::Spawn => spawn(plan),
    }
    None
}

/// What the child needs between clone and exec (it shares our memory).
struct SpawnPlan {
    path: *const u8,
    argv: *const *const u8,
    env_with_guard: *const *const u8,
    env_without_guard: *const *const u8,
    caller_mask: u64,
    sigchld_was_ignored: bool,
    /// Written by the child: exec's errno, 0 while it has not failed.
    failure: i64,
}

/// As `forward::execve_with_fallback`: at the size limit, once more without
/// the guard. Returns the errno.
fn execve_with_fallback(plan: &SpawnPlan) -> i64 {
    let errno = sys::execve(plan.path, plan.argv, plan.env_with_guard);
    if errno != sys::E2BIG {
        return errno;
    }
    sys::execve(plan.path, plan.argv, plan.env_without_guard)
}

/// A child started here, handed to the normal path (`started_child`).
pub struct Started {
    pub pid: i32,
    /// The caller's signal mask; every signal stays blocked until the
    /// normal path has installed the relay and puts this back.
    pub caller_mask: u64,
    /// SIGCHLD was ignored by the caller (cf got that back; we have the
    /// default, to wait).
    pub sigchld_was_ignored: bool,
}

/// Written once before the C runtime starts, read after: plain atomics.
static STARTED_PID: AtomicI32 = AtomicI32::new(0);
static STARTED_MASK: AtomicU64 = AtomicU64::new(0);
static STARTED_SIGCHLD_IGNORED: AtomicBool = AtomicBool::new(false);

/// The cf this process started before the C runtime, if any: the normal
/// path must wait for it (and must not start another).
pub fn started_child() -> Option<Started> {
    let pid = STARTED_PID.load(Ordering::Relaxed);
    (pid > 0).then(|| Started {
        pid,
        caller_mask: STARTED_MASK.load(Ordering::Relaxed),
        sigchld_was_ignored: STARTED_SIGCHLD_IGNORED.load(Ordering::Relaxed),
    })
}

/// The child's stack between clone and exec (CLONE_VM: it shares our
/// memory, and our own stack is in use by the suspended parent frame).
static mut CHILD_STACK: [u8; 16 * 1024] = [0; 16 * 1024];

/// Starts cf as `forward::spawn_and_wait` does (clone with CLONE_VM |
/// CLONE_VFORK, the caller's dispositions and mask put back in the child),
/// leaving every signal blocked here and SIGCHLD at the default for the
/// normal path's wait. On failure everything is put back and the normal path
/// starts over.
#[cfg(target_arch = "x86_64")]
fn spawn(mut plan: SpawnPlan) {
    let Ok(caller_mask) = sys::block_all_signals() else {
        return;
    };
    plan.caller_mask = caller_mask;
    let Ok(old) = sys::set_signal(sys::SIGCHLD, sys::SIG_DFL) else {
        let _ = sys::set_mask(caller_mask);
        return;
    };
    plan.sigchld_was_ignored = old == sys::SIG_IGN;
    let undo = |plan: &SpawnPlan| {
        if plan.sigchld_was_ignored {
            let _ = sys::set_signal(sys::SIGCHLD, sys::SIG_IGN);
        }
        let _ = sys::set_mask(plan.caller_mask);
    };
    let stack = (&raw mut CHILD_STACK) as *mut u8;
    let top = stack.wrapping_add(16 * 1024);
    let pid = sys::clone_vfork(top, &mut plan as *mut SpawnPlan, spawned_child);
    // SAFETY: the child has exec'd or exited (CLONE_VFORK); nothing else
    // writes `plan` now.
    let failure = unsafe { read_volatile(core::ptr::addr_of!(plan.failure)) };
    if pid <= 0 || failure != 0 {
        if pid > 0 {
            sys::reap(pid);
        }
        undo(&plan);
        return;
    }
    STARTED_MASK.store(plan.caller_mask, Ordering::Relaxed);
    STARTED_SIGCHLD_IGNORED.store(plan.sigchld_was_ignored, Ordering::Relaxed);
    STARTED_PID.store(pid as i32, Ordering::Relaxed);
}

/// The child, on `CHILD_STACK`: the caller's SIGCHLD disposition and mask
/// back, then exec; never returns.
extern "C" fn spawned_child(plan: *mut SpawnPlan) -> ! {
    // SAFETY: the parent passes its live plan and is suspended until we
    // exec or exit.
    let plan_ref = unsafe { &*plan };
    let mut errno = 0;
    if plan_ref.sigchld_was_ignored {
        errno = sys::set_signal(sys::SIGCHLD, sys::SIG_IGN)
            .err()
            .unwrap_or(0);
    }
    if errno == 0 {
        errno = sys::set_mask(plan_ref.caller_mask).err().unwrap_or(0);
    }
    if errno == 0 {
        errno = execve_with_fallback(plan_ref);
    }
    // SAFETY: `plan` is valid (above); no reference to it is used after this.
    let failure = unsafe { core::ptr::addr_of_mut!((*plan).failure) };
    // SAFETY: the parent reads it after we are gone.
    unsafe { write_volatile(failure, errno.max(1)) };
    sys::exit(127)
}

/// Our own executable's identity, as `resolve::SelfImage` takes it.
struct Identity {
    dev: u64,
    ino: u64,
}

/// `resolve::real_cf` for the case it settles without reading a file:
/// `CFDEV_SHIM_REAL_CF` if absolute and executable, else the first
/// executable `cf` on PATH that is not this binary. A candidate of exactly our
/// size (maybe a copy of us) is left to the normal path, which compares bytes.
fn real_cf(env: &Env, out: &mut Buf<'_>) -> Option<Identity> {
    let me = sys::stat(c"/proc/self/exe".as_ptr().cast()).ok()?;
    let identity = Identity {
        dev: me.st_dev,
        ino: me.st_ino,
    };
    if let Some(explicit) = env.real_cf.filter(|v| !v.is_empty()) {
        if explicit.first() != Some(&b'/') {
            return None;
        }
        out.push(explicit)?;
        out.nul()?;
        let meta = sys::stat(out.as_ptr()).ok()?;
        return is_executable_file(&meta).then_some(identity);
    }
    for dir in split(env.path?, b':') {
        out.clear();
        // POSIX: an empty PATH entry is the current directory.
        out.push_dir(if dir.is_empty() { b"." } else { dir })?;
        out.push(b"cf")?;
        out.nul()?;
        let Ok(meta) = sys::stat(out.as_ptr()) else {
            continue;
        };
        if !is_executable_file(&meta) {
            continue;
        }
        if meta.st_dev == identity.dev && meta.st_ino == identity.ino {
            continue;
        }
        if meta.st_size == me.st_size {
            return None;
        }
        return Some(identity);
    }
    None
}

fn is_executable_file(meta: &sys::Stat) -> bool {
    meta.st_mode & sys::S_IFMT == sys::S_IFREG && meta.st_mode & 0o111 != 0
}

/// `Path::file_name(argv0) == "cf"`.
fn is_cf_name(argv0: &[u8]) -> bool {
    let mut end = argv0.len();
    while end > 1 && byte(argv0, end - 1) == b'/' {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && byte(argv0, start - 1) != b'/' {
        start -= 1;
    }
    end - start == 2 && byte(argv0, start) == b'c' && byte(argv0, start + 1) == b'f'
}

/// The value of `entry` if it is `NAME=value`.
fn value_of<'a>(entry: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if entry.len() > name.len() && starts_with(entry, name) && byte(entry, name.len()) == b'=' {
        Some(&entry[name.len() + 1..])
    } else {
        None
    }
}

fn split(bytes: &[u8], separator: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    core::iter::from_fn(move || {
        let current = rest?;
        let mut i = 0;
        while i < current.len() && byte(current, i) != separator {
            i += 1;
        }
        if i < current.len() {
            rest = Some(&current[i + 1..]);
        } else {
            rest = None;
        }
        Some(&current[..i])
    })
}

/// One byte, through a volatile read so that no loop of these becomes a
/// libc call.
fn byte(bytes: &[u8], i: usize) -> u8 {
    // SAFETY: indexing checked by the slice bound below.
    unsafe { read_volatile(&bytes[i]) }
}

fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && (0..prefix.len()).all(|i| byte(bytes, i) == byte(prefix, i))
}

fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && starts_with(a, b)
}

fn eq_ignore_ascii_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (0..a.len()).all(|i| byte(a, i).eq_ignore_ascii_case(&byte(b, i)))
}

/// A NUL-terminated string's bytes.
///
/// # Safety
/// `p` points to a NUL-terminated string that outlives the result.
unsafe fn c_bytes<'a>(p: *const u8) -> &'a [u8] {
    let mut len = 0;
    loop {
        let at = p.wrapping_add(len);
        // SAFETY: the string is NUL-terminated: reading up to the NUL stays
        // in it.
        if unsafe { read_volatile(at) } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: `len` bytes from `p` are the string.
    unsafe { core::slice::from_raw_parts(p, len) }
}

/// The strings of a NULL-terminated array.
///
/// # Safety
/// As `c_bytes`, for each entry of a NULL-terminated array.
unsafe fn c_array<'a>(mut p: *const *const u8) -> impl Iterator<Item = &'a [u8]> {
    core::iter::from_fn(move || {
        // SAFETY: the array is NULL-terminated; `p` never passes the NULL.
        let entry = unsafe { read_volatile(p) };
        if entry.is_null() {
            return None;
        }
        // SAFETY: as above; the entry is a NUL-terminated string.
        unsafe {
            p = p.wrapping_add(1);
            Some(c_bytes(entry))
        }
    })
}

/// Storage for a `Buf`, left uninitialised (no memset).
type Storage = [MaybeUninit<u8>; PATH_BUF];
#[cfg(test)]
const STORAGE: Storage = [const { MaybeUninit::uninit() }; PATH_BUF];

// The early path's buffers are statics, not stack: its stack frame would
// otherwise be ~20 KiB, and under a small `ulimit -s` the stack probes would
// fault where the normal path runs fine. Only the one thread that exists
// before the C runtime starts ever touches them.
static mut MARKER_PATH: Storage = [const { MaybeUninit::uninit() }; PATH_BUF];
static mut REAL_CF_PATH: Storage = [const { MaybeUninit::uninit() }; PATH_BUF];
static mut GUARD_ENTRY: Storage = [const { MaybeUninit::uninit() }; PATH_BUF];
static mut ENV_WITH_GUARD: [MaybeUninit<*const u8>; MAX_ENV + 2] =
    [const { MaybeUninit::uninit() }; MAX_ENV + 2];

/// One of those statics as a buffer.
///
/// # Safety
/// Only before the C runtime starts (one thread), and each static once.
unsafe fn buf_in(storage: *mut Storage) -> Buf<'static> {
    // SAFETY: the caller's contract: nothing else refers to it.
    Buf::new(unsafe { &mut *storage })
}

/// A NUL-terminated path or entry being built in stack storage it borrows
/// (so that it is never moved: a move of 4 KiB could be a memcpy call).
struct Buf<'a> {
    data: &'a mut Storage,
    len: usize,
}

impl<'a> Buf<'a> {
    fn new(data: &'a mut Storage) -> Buf<'a> {
        Buf { data, len: 0 }
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn first(&self) -> Option<u8> {
        self.bytes().first().map(|_| byte(self.bytes(), 0))
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were written.
        unsafe { core::slice::from_raw_parts(self.data.as_ptr() as *const u8, self.len) }
    }

    fn as_ptr(&self) -> *const u8 {
        self.data.as_ptr() as *const u8
    }

    /// Appends, keeping room for the final NUL; None when it does not fit.
    fn push(&mut self, bytes: &[u8]) -> Option<()> {
        if self.len + bytes.len() >= PATH_BUF {
            return None;
        }
        for i in 0..bytes.len() {
            // SAFETY: len + i < PATH_BUF, checked above.
            unsafe {
                write_volatile(
                    self.data.as_mut_ptr().wrapping_add(self.len + i),
                    MaybeUninit::new(byte(bytes, i)),
                )
            };
        }
        self.len += bytes.len();
        Some(())
    }

    /// Appends a directory and a `/`, unless it already ends with one (as
    /// `Path::join`).
    fn push_dir(&mut self, dir: &[u8]) -> Option<()> {
        self.push(dir)?;
        if self.len == 0 || byte(self.bytes(), self.len - 1) != b'/' {
            self.push(b"/")?;
        }
        Some(())
    }

    fn push_decimal(&mut self, mut n: u64) -> Option<()> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    /// Terminates the string (room for it is always kept).
    fn nul(&mut self) -> Option<()> {
        // SAFETY: push keeps len < PATH_BUF.
        unsafe {
            write_volatile(
                self.data.as_mut_ptr().wrapping_add(self.len),
                MaybeUninit::new(0),
            )
        };
        Some(())
    }
}

/// The three system calls, by hand (libc's wrappers set errno in
/// thread-local storage, which does not exist yet).
mod sys {
    pub const ENOENT: i64 = 2;
    pub const E2BIG: i64 = 7;
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFREG: u32 = 0o100000;
    const AT_FDCWD: i64 = -100;

    /// x86_64 `struct stat`.
    #[repr(C)]
    struct KernelStat {
        st_dev: u64,
        st_ino: u64,
        st_nlink: u64,
        st_mode: u32,
        st_uid: u32,
        st_gid: u32,
        pad0: u32,
        st_rdev: u64,
        st_size: i64,
        rest: [i64; 12],
    }

    /// The fields the early path uses (small: returning the whole struct
    /// could be a memcpy call).
    pub struct Stat {
        pub st_dev: u64,
        pub st_ino: u64,
        pub st_mode: u32,
        pub st_size: i64,
    }

    #[cfg(target_arch = "x86_64")]
    fn syscall4(n: i64, a: i64, b: i64, c: i64, d: i64) -> i64 {
        let ret;
        // SAFETY: a raw Linux system call; the kernel clobbers rcx and r11.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") n => ret, in("rdi") a, in("rsi") b,
                in("rdx") c, in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }

    /// stat(2), following symlinks. Err(errno).
    pub fn stat(path: *const u8) -> Result<Stat, i64> {
        let mut out = core::mem::MaybeUninit::<KernelStat>::uninit();
        // newfstatat(AT_FDCWD, path, &out, 0)
        let ret = syscall4(262, AT_FDCWD, path as i64, out.as_mut_ptr() as i64, 0);
        if ret < 0 {
            return Err(-ret);
        }
        // SAFETY: the kernel filled the struct; fields are read in place.
        let raw = unsafe { &*out.as_ptr() };
        Ok(Stat {
            st_dev: raw.st_dev,
            st_ino: raw.st_ino,
            st_mode: raw.st_mode,
            st_size: raw.st_size,
        })
    }

    pub fn getpid() -> u64 {
        syscall4(39, 0, 0, 0, 0) as u64
    }

    /// Returns only on failure, with the errno.
    pub fn execve(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> i64 {
        -syscall4(59, path as i64, argv as i64, envp as i64, 0)
    }

    pub const SIGCHLD: i64 = 17;
    pub const SIG_DFL: u64 = 0;
    pub const SIG_IGN: u64 = 1;

    /// The kernel's `struct sigaction` on x86_64.
    #[repr(C)]
    struct KernelSigaction {
        handler: u64,
        flags: u64,
        restorer: u64,
        mask: u64,
    }

    /// Sets a plain disposition (SIG_DFL/SIG_IGN); returns the old handler.
    pub fn set_signal(sig: i64, handler: u64) -> Result<u64, i64> {
        let new = KernelSigaction {
            handler,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        let mut old = core::mem::MaybeUninit::<KernelSigaction>::uninit();
        let new_ptr = core::ptr::addr_of!(new) as i64;
        let ret = syscall4(13, sig, new_ptr, old.as_mut_ptr() as i64, 8);
        if ret < 0 {
            return Err(-ret);
        }
        // SAFETY: the kernel filled it.
        Ok(unsafe { (*old.as_ptr()).handler })
    }

    /// Blocks every signal; returns the previous mask.
    pub fn block_all_signals() -> Result<u64, i64> {
        let all: u64 = u64::MAX;
        let mut old: u64 = 0;
        let (all_ptr, old_ptr) = (
            core::ptr::addr_of!(all) as i64,
            core::ptr::addr_of_mut!(old) as i64,
        );
        // rt_sigprocmask(SIG_BLOCK, &all, &old, 8)
        let ret = syscall4(14, 0, all_ptr, old_ptr, 8);
        if ret < 0 {
            return Err(-ret);
        }
        Ok(old)
    }

    pub fn set_mask(mask: u64) -> Result<(), i64> {
        let mask_ptr = core::ptr::addr_of!(mask) as i64;
        // rt_sigprocmask(SIG_SETMASK, &mask, NULL, 8)
        let ret = syscall4(14, 2, mask_ptr, 0, 8);
        if ret < 0 {
            return Err(-ret);
        }
        Ok(())
    }

    /// Waits for (reaps) a child that exited.
    pub fn reap(pid: i64) {
        // wait4(pid, NULL, 0, NULL)
        syscall4(61, pid, 0, 0, 0);
    }

    pub fn exit(code: i64) -> ! {
        loop {
            syscall4(60, code, 0, 0, 0);
        }
    }

    /// clone(CLONE_VM | CLONE_VFORK | SIGCHLD) with `stack_top` as the
    /// child's stack; the child calls `child(arg)`, which must not return.
    /// Returns the child's PID (the child has exec'd or exited by then), or
    /// -errno.
    #[cfg(target_arch = "x86_64")]
    pub fn clone_vfork<T>(
        stack_top: *mut u8,
        arg: *mut T,
        child: extern "C" fn(*mut T) -> !,
    ) -> i64 {
        const FLAGS: i64 = 0x100 | 0x4000 | 17; // CLONE_VM | CLONE_VFORK | SIGCHLD
        let top = stack_top.wrapping_sub(stack_top as usize % 16);
        let ret: i64;
        // SAFETY: the child runs only on its own stack and never returns
        // into this frame (it calls `child`, which execs or exits); the
        // parent resumes after the child has exec'd or exited.
        unsafe {
            core::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "mov rdi, r12",
                "call r13",
                "ud2",
                "2:",
                inlateout("rax") 56i64 => ret,
                in("rdi") FLAGS,
                in("rsi") top,
                in("rdx") 0i64,
                in("r10") 0i64,
                in("r8") 0i64,
                in("r12") arg,
                in("r13") child,
                lateout("rcx") _,
                lateout("r11") _,
            );
        }
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(entries: &[&str]) -> Env<'static> {
        let leaked: Vec<&'static [u8]> = entries
            .iter()
            .map(|e| &*Box::leak(e.as_bytes().to_vec().into_boxed_slice()))
            .collect();
        Env::read(leaked.into_iter())
    }

    #[test]
    fn only_a_cf_name_is_taken() {
        for name in ["cf", "/usr/local/bin/cf", "./cf", "shims/cf/"] {
            assert!(is_cf_name(name.as_bytes()), "{name}");
        }
        for name in ["", "/", "cfdev-shim", "xcf", "cf.exe", "/cf/x", "c"] {
            assert!(!is_cf_name(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn the_function_mode_rule() {
        let home = ["CFDEV_SHIM_HOME=/h"];
        let v = |args: &[&str], vars: &[&str]| {
            verdict(
                args[0].as_bytes(),
                args.get(1).map(|a| a.as_bytes()),
                &env(vars),
            )
        };
        assert_eq!(v(&["cf", "push"], &home), Verdict::UnlessMarker);
        assert_eq!(v(&["cf"], &home), Verdict::UnlessMarker);
        assert_eq!(v(&["cf", "dev", "start"], &home), Verdict::Undecided);
        assert_eq!(v(&["cf", "-v", "apps"], &home), Verdict::Undecided);
        assert_eq!(v(&["cfdev-shim", "cf", "apps"], &home), Verdict::Undecided);
        let guarded = ["__CFDEV_SHIM_GUARD=1 2:3 0\n/x/cf"];
        assert_eq!(v(&["cf", "apps"], &guarded), Verdict::Undecided);
        assert_eq!(
            v(&["cf", "apps"], &["CFDEV_SHIM_EARLY=0"]),
            Verdict::Undecided
        );
        for off in [
            "DO_NOT_TRACK=1",
            "DO_NOT_TRACK=yes",
            "CFDEV_SHIM_TELEMETRY=OFF",
            "CFDEV_SHIM_TELEMETRY=no",
        ] {
            assert_eq!(v(&["cf", "apps"], &[off]), Verdict::Off, "{off}");
        }
        for not_off in ["DO_NOT_TRACK=0", "DO_NOT_TRACK=", "CFDEV_SHIM_TELEMETRY="] {
            assert_eq!(
                v(&["cf", "apps"], &[not_off]),
                Verdict::UnlessMarker,
                "{not_off}"
            );
        }
        for other in [
            "CFDEV_SHIM_TELEMETRY=on",
            "CFDEV_SHIM_TELEMETRY= off",
            "CFDEV_SHIM_TELEMETRY=maybe",
        ] {
            assert_eq!(v(&["cf", "apps"], &[other]), Verdict::Undecided, "{other}");
        }
        // DO_NOT_TRACK wins over an explicit on, as in `consent::env_override`.
        let both = ["CFDEV_SHIM_TELEMETRY=on", "DO_NOT_TRACK=1"];
        assert_eq!(v(&["cf", "apps"], &both), Verdict::Off);
    }

    #[test]
    fn the_first_entry_of_a_name_counts_as_getenv_finds_it() {
        let e = env(&[
            "HOMEX=/no",
            "NOEQUALS",
            "HOME=/first",
            "HOME=/second",
            "PATH=",
        ]);
        assert_eq!(e.user_home, Some(&b"/first"[..]));
        assert_eq!(e.path, Some(&b""[..]));
        assert_eq!(e.count, 5);
        assert!(!e.guard);
    }

    #[test]
    fn the_marker_sits_where_statepaths_puts_the_config() {
        let marker = |vars: &[&str]| {
            let mut storage = STORAGE;
            let mut out = Buf::new(&mut storage);
            marker_path(&env(vars), &mut out)
                .map(|()| String::from_utf8(out.bytes().to_vec()).unwrap())
        };
        assert_eq!(
            marker(&["CFDEV_SHIM_HOME=/s/", "HOME=/h"]).as_deref(),
            Some("/s/telemetry-on")
        );
        assert_eq!(
            marker(&["HOME=/h", "XDG_CONFIG_HOME=/x"]).as_deref(),
            Some("/x/cfdev-shim/telemetry-on")
        );
        assert_eq!(
            marker(&["HOME=/h", "XDG_CONFIG_HOME=rel"]).as_deref(),
            Some("/h/.config/cfdev-shim/telemetry-on")
        );
        assert_eq!(marker(&["CFDEV_SHIM_HOME=rel"]), None);
        assert_eq!(marker(&["HOME="]), None);
        assert_eq!(marker(&[]), None);
    }

    #[test]
    fn path_entries_split_as_split_paths_does() {
        let parts = |s: &str| {
            split(s.as_bytes(), b':')
                .map(|p| String::from_utf8(p.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(parts("/a::/b:"), ["/a", "", "/b", ""]);
        assert_eq!(parts(""), [""]);
    }

    #[test]
    fn numbers_and_overflow() {
        let mut storage = STORAGE;
        let mut b = Buf::new(&mut storage);
        b.push_decimal(0).unwrap();
        b.push(b" ").unwrap();
        b.push_decimal(u64::MAX).unwrap();
        assert_eq!(b.bytes(), b"0 18446744073709551615");
        let long = vec![b'a'; PATH_BUF];
        let mut storage = STORAGE;
        assert_eq!(Buf::new(&mut storage).push(&long), None);
    }
}
