//! Entry point. We take over the C `main` (`no_main`) so that nothing
//! runs before forwarding: std's runtime setup would ignore SIGPIPE and reopen
//! closed standard descriptors, and cf must inherit exactly what we inherited.
#![no_main]
#![warn(
    clippy::multiple_unsafe_ops_per_block,
    clippy::undocumented_unsafe_blocks
)]

#[no_mangle]
#[allow(clippy::not_unsafe_ptr_arg_deref)] // the C runtime is the only caller
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let args = (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: i < argc, so the slot lies within the argv array.
            let slot = unsafe { argv.add(i) };
            // SAFETY: the slot holds a pointer the C runtime put there.
            let ptr = unsafe { *slot };
            // SAFETY: the C runtime hands us argc valid NUL-terminated strings.
            let arg = unsafe { std::ffi::CStr::from_ptr(ptr) };
            arg.to_bytes().to_vec()
        })
        .map(std::os::unix::ffi::OsStringExt::from_vec)
        .collect();
    cfdev_shim::app::run(args).finish()
}
