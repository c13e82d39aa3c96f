//! Reproducible randomness. burn's random tensors (weight init, dropout masks) draw from one
//! process-wide generator per backend, so two seeded runs on different threads would interleave
//! their draws. Every seeded section of mown therefore holds `SeedLock` while it draws.

use std::sync::{Mutex, MutexGuard};

use burn::prelude::Device;

static BURN_RNG: Mutex<()> = Mutex::new(());

/// Holds burn's global RNG for one seeded computation.
pub struct SeedLock {
    _guard: MutexGuard<'static, ()>,
}

impl SeedLock {
    /// Locks burn's RNG and seeds it for `device` (and its autodiff twin, which shares it).
    pub fn acquire(device: &Device, seed: u64) -> SeedLock {
        let guard = BURN_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        device.seed(seed);
        SeedLock { _guard: guard }
    }
}

/// Derives an independent sub-seed, so that e.g. weight init and data order of one run differ
/// but both follow from the run's seed (SplitMix64 finaliser).
pub fn derive(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
