//! Tuning of mimalloc, the global allocator of mown's binaries (docs/decisions.md).
//!
//! burn-flex allocates fresh buffers of a few MiB for every convolution. mimalloc 3 hands freed
//! memory back to the kernel after 1 s ("purging"), and the next convolution faults it in again
//! as fresh pages the kernel must zero: about 4% of an IPGuard profile on ResNet-20. Turning
//! purging off keeps the process's peak memory mapped, which for mown's batch sizes is a few
//! hundred MiB, and saves about 5% of an IPGuard run's time (docs/performance.md).

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay`: its index in the `mi_option_e` enum of the mimalloc 3 sources that
/// libmimalloc-sys 0.1.49 builds. The Rust bindings leave this option out "for stability", so it
/// is addressed by index; [`keep_freed_memory`] checks the index against the option's default
/// before writing it.
const PURGE_DELAY: mi_option_t = 15;
/// mimalloc 3's default purge delay in milliseconds.
const DEFAULT_PURGE_DELAY_MS: i64 = 1000;

/// Stops mimalloc from returning freed memory to the kernel. Only has an effect in a binary whose
/// global allocator is mimalloc. Returns false, and changes nothing, when the option does not hold
/// mimalloc's default: the user set `MIMALLOC_PURGE_DELAY` to another value (their choice
/// stands; setting it to exactly 1000 is indistinguishable from the default), or the index does
/// not name the purge delay in the linked mimalloc.
pub fn keep_freed_memory() -> bool {
    // SAFETY: mi_option_get/mi_option_set read and write one global integer inside mimalloc;
    // any option index below `_mi_option_last` is valid, and 15 is below it in every version.
    // The bindings call option setting "not thread safe": call this at the start of `main`,
    // before any worker thread exists.
    unsafe {
        if mi_option_get(PURGE_DELAY) as i64 != DEFAULT_PURGE_DELAY_MS {
            return false;
        }
        mi_option_set(PURGE_DELAY, -1);
        mi_option_get(PURGE_DELAY) == -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index names the purge delay in the linked mimalloc: it holds the documented default
    /// until set, takes the new value, and a second call leaves it alone.
    #[test]
    fn purge_delay_is_found_by_its_index_and_set_once() {
        // A user's setting (under either of the option's names) decides what the call does.
        if ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"].iter().any(|v| std::env::var_os(v).is_some()) {
            return;
        }
        assert!(keep_freed_memory());
        // SAFETY: as in `keep_freed_memory`.
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, -1);
        assert!(!keep_freed_memory(), "already changed: the second call must not report success");
    }
}
