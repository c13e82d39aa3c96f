//! Methods by name, for the command line and configuration files (the Watermark-Robustness-
//! Toolbox's registry idea): one options struct, every generator.

use serde::{Deserialize, Serialize};

use crate::baselines::{Baseline, BaselineKind, BaselineParams};
use crate::ipguard::{Init, IpGuard, IpGuardParams, TargetRule};
use crate::{Fingerprinter, MethodError};

/// Generation options shared by the fingerprinting methods; each uses the ones that apply.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GenOptions {
    pub n: usize,
    /// IPGuard margin k; CW-L2 confidence κ.
    pub k: f64,
    /// Adam learning rate (IPGuard, CW-L2).
    pub lr: f64,
    pub iterations: usize,
    pub init: Init,
    pub target: TargetRule,
    /// FGSM/IGSM L∞ radius.
    pub eps: f64,
    /// CW-L2 constant c.
    pub c: f64,
    pub seed: u64,
    /// IPGuard start points optimised to obtain `n` converged ones (0 = n).
    pub candidates: usize,
    /// IPGuard start points drawn and ranked by initial loss before optimising (0 = none).
    #[serde(default)]
    pub screen: usize,
}

impl Default for GenOptions {
    fn default() -> Self {
        let ip = IpGuardParams::default();
        Self {
            n: ip.n,
            k: ip.k,
            lr: ip.lr,
            iterations: ip.iterations,
            init: ip.init,
            target: ip.target,
            eps: 0.1,
            c: 1.0,
            seed: 0,
            candidates: ip.candidates,
            screen: ip.screen,
        }
    }
}

/// The names `by_name` knows.
pub const METHODS: &[&str] = &["ipguard", "cw-l2", "fgsm", "igsm", "random"];

/// Parses an init/label suffix such as "TL".
pub fn parse_suffix(s: &str) -> Result<(Init, TargetRule), MethodError> {
    let s = s.to_ascii_uppercase();
    let mut c = s.chars();
    let init = match c.next() {
        Some('T') => Init::Train,
        Some('R') => Init::Random,
        _ => return Err(MethodError::BadParameter(format!("init/label '{s}' must be TL, TR, RL or RR"))),
    };
    let target = match c.next() {
        Some('L') => TargetRule::LeastLikely,
        Some('R') => TargetRule::Random,
        _ => return Err(MethodError::BadParameter(format!("init/label '{s}' must be TL, TR, RL or RR"))),
    };
    Ok((init, target))
}

/// The generator called `name` with options `o`.
pub fn by_name(name: &str, o: &GenOptions) -> Result<Box<dyn Fingerprinter>, MethodError> {
    let base = |kind| BaselineParams { kind, n: o.n, init: o.init, target: o.target, seed: o.seed };
    Ok(match name.to_ascii_lowercase().as_str() {
        "ipguard" => Box::new(IpGuard(IpGuardParams {
            n: o.n,
            k: o.k,
            lr: o.lr,
            iterations: o.iterations,
            init: o.init,
            target: o.target,
            clip: true,
            seed: o.seed,
            candidates: o.candidates,
            screen: o.screen,
        })),
        "cw-l2" | "cw" => {
            Box::new(Baseline(base(BaselineKind::CwL2 { c: o.c, kappa: o.k, lr: o.lr, iterations: o.iterations })))
        }
        "fgsm" => Box::new(Baseline(base(BaselineKind::Fgsm { eps: o.eps }))),
        "igsm" => {
            Box::new(Baseline(base(BaselineKind::Igsm { eps: o.eps, alpha: 1.0 / 255.0, iterations: o.iterations })))
        }
        "random" => Box::new(Baseline(base(BaselineKind::Random))),
        other => {
            return Err(MethodError::BadParameter(format!("unknown method '{other}' (known: {})", METHODS.join(", "))));
        }
    })
}
